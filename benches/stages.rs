//! Per-stage benchmarks (criterion): parse a gateway line, decode a JWT,
//! verify HS256/RS256/ES256, GeoIP lookups (uncached and cached), and the
//! engine's observe with all shipped rules. Run: `cargo bench --bench stages`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use tokenhound::engine::{EngineConfig, RevocationView, Session};
use tokenhound::enrich::{GeoDb, GeoLookup, GeoSchema};
use tokenhound::gen::{generate, GenConfig, TokenMode};
use tokenhound::ingest::{IngestConfig, Ingestor, Profile};
use tokenhound::model::{EventTime, SourcePos};
use tokenhound::rules::load_dir;
use tokenhound::token::{decode_unverified, IdentityKeys, KeySet, ResolverConfig, TokenResolver};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lines(profile: Profile, n: u64) -> Vec<Vec<u8>> {
    lines_shaped(profile, n, Default::default())
}

fn lines_shaped(profile: Profile, n: u64, shape: tokenhound::gen::Shape) -> Vec<Vec<u8>> {
    let cfg = GenConfig {
        profile,
        lines: n,
        users: 500,
        seed: 9,
        mode: TokenMode::Claims,
        start: EventTime::parse("2026-11-02T08:00:00Z").unwrap(),
        shape,
    };
    let mut out = Vec::new();
    generate(&cfg, &mut out).unwrap();
    out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

fn ingestor(profile: Profile) -> Ingestor {
    Ingestor::new(
        IngestConfig { profile, ..Default::default() },
        TokenResolver::new(IdentityKeys::new(b"bench-key-0123456789"), None, ResolverConfig::default()),
    )
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for (p, name) in [
        (Profile::Kong, "kong"),
        (Profile::Envoy, "envoy"),
        (Profile::Tokenhound, "tokenhound"),
        (Profile::Auto, "auto-kong"),
    ] {
        let src = if p == Profile::Auto { Profile::Kong } else { p };
        let ls = lines(src, 2000);
        let mut ing = ingestor(p);
        let pos = SourcePos::File { path: "bench".into(), line: 1 };
        let mut i = 0;
        let mut out = Vec::with_capacity(4);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                ing.ingest(black_box(&ls[i % ls.len()]), &pos, &mut out).unwrap();
                i += 1;
            })
        });
    }
    // Kong's full log object (~1.1 KB with claims): a single record, and a
    // kafka-log batch line (per record); the parse skips what it does not read
    let full = lines_shaped(Profile::Kong, 4000, tokenhound::gen::Shape::Full);
    let (batches, singles): (Vec<_>, Vec<_>) = full.into_iter().partition(|l| l.first() == Some(&b'['));
    for (name, ls, per) in [("kong-full", singles, 1u64), ("kong-full-batch", batches, 0)] {
        let mut ing = ingestor(Profile::Kong);
        let pos = SourcePos::File { path: "bench".into(), line: 1 };
        let mut out = Vec::with_capacity(8);
        let records: usize = ls
            .iter()
            .map(|l| {
                out.clear();
                ing.ingest(l, &pos, &mut out).unwrap();
                out.len()
            })
            .sum();
        let per = if per == 0 { (records / ls.len()).max(1) as u64 } else { per };
        g.throughput(Throughput::Elements(per));
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                ing.ingest(black_box(&ls[i % ls.len()]), &pos, &mut out).unwrap();
                i += 1;
            })
        });
    }
    g.finish();
}

fn jwt(c: &mut Criterion) {
    let idp =
        EncodingKey::from_rsa_pem(&std::fs::read(root().join("sample-logs/keys/idp-rs256.key")).unwrap()).unwrap();
    let es =
        EncodingKey::from_ec_pem(&std::fs::read(root().join("sample-logs/keys/bench-es256.key")).unwrap()).unwrap();
    let claims = serde_json::json!({"iss": "https://idp.acme.example", "sub": "alice", "jti": "0123456789abcdef", "iat": 1793606400, "exp": 1793610000, "client_id": "web-portal", "aud": "acme-api"});
    let head = |alg, kid: &str| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        h
    };
    let rs = encode(&head(Algorithm::RS256, "idp-2026-11"), &claims, &idp).unwrap();
    let esk = encode(&head(Algorithm::ES256, "es-1"), &claims, &es).unwrap();
    let hs = encode(
        &head(Algorithm::HS256, "hs-1"),
        &claims,
        &EncodingKey::from_secret(b"bench-hmac-secret-0123456789abcdef"),
    )
    .unwrap();
    let mut ks = KeySet::new(&["RS256", "ES256", "HS256"].map(String::from), 60).unwrap();
    ks.add_jwks_file(&root().join("sample-logs/keys/idp-jwks.json")).unwrap();
    ks.add_pem_file(&root().join("sample-logs/keys/bench-es256.pub"), Some("es-1")).unwrap();
    use base64::Engine as _;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"bench-hmac-secret-0123456789abcdef");
    ks.add_jwks_json(&format!(r#"{{"keys":[{{"kty":"oct","kid":"hs-1","alg":"HS256","k":"{k}"}}]}}"#), "bench")
        .unwrap();
    let mut g = c.benchmark_group("token");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        b.iter(|| decode_unverified(black_box(&rs), 16384).unwrap().claims().map(|c| c.jti.is_some()).unwrap())
    });
    for (name, t) in [("verify_hs256", &hs), ("verify_rs256", &rs), ("verify_es256", &esk)] {
        let header = decode_unverified(t, 16384).unwrap().header;
        assert_eq!(ks.verify(t, &header), tokenhound::model::Verdict::Valid, "{name}");
        g.bench_function(name, |b| b.iter(|| ks.verify(black_box(t), &header)));
    }
    let mut r =
        TokenResolver::new(IdentityKeys::new(b"bench-key-0123456789"), Some(Arc::new(ks)), ResolverConfig::default());
    g.bench_function("resolve_cached_rs256", |b| b.iter(|| r.from_raw(black_box(&rs))));
    g.finish();
}

/// The project's sample city and ASN databases.
fn sample_geo() -> Arc<GeoDb> {
    let geo = root().join("sample-logs/geo");
    Arc::new(
        GeoDb::open(Some(&geo.join("sample-city.mmdb")), Some(&geo.join("sample-asn.mmdb")), GeoSchema::Auto).unwrap(),
    )
}

fn geo(c: &mut Criterion) {
    let db = sample_geo();
    let ips: Vec<std::net::IpAddr> =
        (0..4096u32).map(|i| format!("198.18.{}.{}", 1 + i % 150, i % 250 + 1).parse().unwrap()).collect();
    let mut g = c.benchmark_group("geo");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("city_asn_uncached", |b| {
        b.iter(|| {
            i += 1;
            db.lookup(black_box(ips[i % ips.len()]))
        })
    });
    let mut l = GeoLookup::new(db.clone(), 65536);
    g.bench_function("city_asn_cached", |b| {
        b.iter(|| {
            i += 1;
            l.lookup(black_box(ips[i % ips.len()]))
        })
    });
    g.finish();
}

fn engine(c: &mut Criterion) {
    let rules = Arc::new(load_dir(&root().join("rules")).unwrap());
    let db = sample_geo();
    let mut geo = GeoLookup::new(db, 65536);
    let mut ing = ingestor(Profile::Kong);
    let mut events = Vec::new();
    for (n, l) in lines(Profile::Kong, 50_000).iter().enumerate() {
        ing.ingest(l, &SourcePos::File { path: "bench".into(), line: n as u64 }, &mut events).unwrap();
    }
    for e in events.iter_mut() {
        geo.enrich(e);
    }
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.bench_function("observe_all_rules", |b| {
        b.iter_batched(
            || {
                (
                    Session::new(rules.clone(), Arc::new(RevocationView::default()), EngineConfig::default()),
                    events.clone(),
                )
            },
            |(mut e, evs)| {
                let mut out = Vec::new();
                for (i, ev) in evs.into_iter().enumerate() {
                    e.push(0, ev, &mut out);
                    if i % 1024 == 0 {
                        e.advance(&mut out);
                    }
                }
                e.finish(&mut out);
                out.len()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, parse, jwt, geo, engine);
criterion_main!(benches);
