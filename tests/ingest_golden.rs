//! A golden test per ingest profile: tests/ingest/<profile>.ndjson through
//! the real ingest (trusted proxy 10.0.0.0/8, sample GeoIP) gives exactly
//! tests/ingest/<profile>.expected.ndjson (UPDATE_GOLDEN=1 rewrites it).
//! The same files through `auto` give the same events.

mod common;

use std::sync::Arc;

use tokenhound::enrich::{GeoDb, GeoLookup, GeoSchema};
use tokenhound::ingest::{IngestConfig, Ingestor, Profile};
use tokenhound::model::SourcePos;
use tokenhound::output::event_json;
use tokenhound::token::{IdentityKeys, KeySet, ResolverConfig, TokenResolver};

fn normalize(profile: Profile, file: &str) -> String {
    let root = common::root();
    let mut keys = KeySet::new(&["RS256".to_string()], 60).unwrap();
    keys.add_jwks_file(&root.join("sample-logs/keys/idp-jwks.json")).unwrap();
    let r =
        TokenResolver::new(IdentityKeys::new(b"golden-ingest-key"), Some(Arc::new(keys)), ResolverConfig::default());
    let cfg = IngestConfig { profile, trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
    let mut ing = Ingestor::new(cfg, r);
    let db = GeoDb::open(
        Some(&root.join("sample-logs/geo/sample-city.mmdb")),
        Some(&root.join("sample-logs/geo/sample-asn.mmdb")),
        GeoSchema::Auto,
    )
    .unwrap();
    let mut geo = GeoLookup::new(Arc::new(db), 64);
    let mut out = String::new();
    for (i, line) in std::fs::read_to_string(root.join(file)).unwrap().lines().enumerate() {
        let src = SourcePos::File { path: file.into(), line: i as u64 + 1 };
        let mut evs = Vec::new();
        match ing.ingest(line.as_bytes(), &src, &mut evs) {
            Ok(()) => {
                for mut e in evs {
                    geo.enrich(&mut e);
                    out.push_str(&event_json(&e).to_string());
                    out.push('\n');
                }
            }
            Err(e) => out.push_str(&format!("error at line {}: {e}\n", i + 1)),
        }
    }
    out
}

#[test]
fn each_profile_matches_its_golden_file() {
    for (p, name) in [
        (Profile::Kong, "kong"),
        (Profile::Envoy, "envoy"),
        (Profile::AwsApigw, "aws-apigw"),
        (Profile::Traefik, "traefik"),
        (Profile::Nginx, "nginx"),
        (Profile::Tokenhound, "tokenhound"),
    ] {
        let file = format!("tests/ingest/{name}.ndjson");
        let got = normalize(p, &file);
        assert!(!got.contains("error at line"), "{name}: {got}");
        common::golden(&common::root().join(format!("tests/ingest/{name}.expected.ndjson")), &got);
        assert_eq!(normalize(Profile::Auto, &file), got, "auto picks {name}");
    }
}
