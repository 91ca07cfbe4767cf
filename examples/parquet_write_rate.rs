//! The Parquet copy's write rate (feature `batch`): N synthetic enriched
//! events (a few thousand tokens, addresses and user agents, every column
//! filled) through `ParquetExport`, timed. Prints rows per second.
//! `cargo run --profile perf --all-features --example parquet_write_rate -- 1000000 OUT.parquet`

#[cfg(feature = "batch")]
#[allow(clippy::disallowed_methods)] // a benchmark times itself
fn main() {
    use std::sync::Arc;
    use tokenhound::model::{AccessEvent, EventTime, Geo, Origin, SourcePos, TokenId, TokenInfo, TokenKey, Verdict};
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let out = args.next().unwrap_or_else(|| "/tmp/parquet-write-rate.parquet".into());
    use tokenhound::model::IStr;
    let uas: Vec<IStr> = (0..50).map(|i| format!("Mozilla/5.0 (X11; Linux) Firefox/{i}.0").as_str().into()).collect();
    let (get, path, gw): (IStr, IStr, IStr) = ("GET".into(), "/api/orders/{id}".into(), "order-svc".into());
    let rids: Vec<Arc<str>> = (0..4096).map(|i| format!("{i:032x}").into()).collect();
    let geo = Arc::new(Geo {
        lat: Some(51.5),
        lon: Some(-0.1),
        radius_km: 10.0,
        city: Some("London".into()),
        country: Some("GB".into()),
        asn: Some(64_641),
        as_org: Some("Albion Broadband".into()),
        anonymizer: 0,
    });
    let tokens: Vec<Arc<TokenInfo>> = (0..5000u64)
        .map(|i| {
            let jti = format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_le_bytes());
            let id = TokenId::Jti { iss: "https://idp.acme.example".into(), jti: jti.as_str().into() };
            let mut t = TokenInfo::bare(TokenKey(k), id, Verdict::Valid, Origin::Claims);
            t.iss = Some("https://idp.acme.example".into());
            t.jti = Some(jti.into());
            t.sub = Some(format!("user-{i:06}").into());
            t.client_id = Some("web-portal".into());
            t.exp = Some(1_793_613_300);
            t.iat = Some(1_793_609_700);
            t.vouched = true;
            Arc::new(t)
        })
        .collect();
    let file: IStr = "gen-kong.ndjson".into();
    let event = |i: usize| AccessEvent {
        time: EventTime(1_793_609_700_000_000 + i as i64 * 1000),
        client_ip: Some(std::net::IpAddr::from([198, 18, (i % 200) as u8, (i % 250) as u8])),
        user_agent: Some(uas[i % uas.len()].clone()),
        method: get.clone(),
        path: path.clone(),
        status: 200,
        request_id: Some(rids[i % rids.len()].clone()),
        gateway: Some(gw.clone()),
        bytes: Some(1234),
        token: Some(tokens[i % tokens.len()].clone()),
        geo: Some(geo.clone()),
        source: SourcePos::File { path: file.clone(), line: i as u64 + 1 },
    };
    // the events alone (what ingest hands over), then the events written
    let t0 = std::time::Instant::now();
    for i in 0..n {
        std::hint::black_box(event(i));
    }
    let make = t0.elapsed().as_secs_f64();
    let mut w = tokenhound::forensics::ParquetExport::create(std::path::Path::new(&out)).unwrap();
    let t0 = std::time::Instant::now();
    for i in 0..n {
        w.push(&event(i)).unwrap();
    }
    let rows = w.finish().unwrap();
    let s = t0.elapsed().as_secs_f64() - make;
    println!(
        "{rows} rows written in {s:.2} s (event construction, {make:.2} s, subtracted): {:.0} rows/s ({out})",
        rows as f64 / s
    );
}

#[cfg(not(feature = "batch"))]
fn main() {
    eprintln!("needs --features batch");
}
