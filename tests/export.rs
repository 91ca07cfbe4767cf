//! (feature `batch`) `tokenhound export --parquet`: the sample logs become a
//! Parquet file that polars reads back with every event, enriched, and no
//! raw token anywhere in the file.
#![cfg(feature = "batch")]

mod common;

use common::*;
use polars::prelude::*;

#[test]
fn export_sample_logs_to_parquet_and_read_back() {
    let dir = tempdir();
    let out = dir.path().join("events.parquet");
    let run = bin()
        .args(["export", "--config", "sample-logs/tokenhound.toml", "--parquet"])
        .arg(&out)
        .arg("sample-logs/logs")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("37 events written"), "{}", text(&run.stderr));

    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    assert_eq!(df.height(), 37);
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(names, tokenhound::forensics::EXPORT_COLUMNS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(matches!(df.column("time").unwrap().dtype(), DataType::Datetime(TimeUnit::Microseconds, Some(_))));

    // alice's stolen token: London then Singapore, BulletHost's ASN
    let mask = df.column("sub").unwrap().str().unwrap().equal("alice");
    let alice = df.filter(&mask).unwrap();
    assert_eq!(alice.height(), 5);
    let cities: Vec<Option<&str>> = alice.column("city").unwrap().str().unwrap().iter().collect();
    assert!(cities.contains(&Some("London")) && cities.contains(&Some("Singapore")), "{cities:?}");
    let asns: Vec<Option<u32>> = alice.column("asn").unwrap().u32().unwrap().iter().collect();
    assert!(asns.contains(&Some(64900)));
    // raw tokens were verified and then dropped
    let verdicts = df.column("verdict").unwrap().str().unwrap().iter().flatten().collect::<Vec<_>>();
    assert!(verdicts.contains(&"valid") && verdicts.contains(&"bad_signature") && verdicts.contains(&"alg_none"));
    let bytes = std::fs::read(&out).unwrap();
    let traefik = std::fs::read_to_string(root().join("sample-logs/logs/traefik/stories.ndjson")).unwrap();
    let sig = traefik.lines().next().unwrap().rsplit('.').next().unwrap().trim_end_matches(['"', '}']);
    assert!(sig.len() > 40);
    assert!(!bytes.windows(sig.len()).any(|w| w == sig.as_bytes()), "a token signature leaked into the Parquet file");
}
