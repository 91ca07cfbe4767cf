//! Property tests: parsers never panic on any bytes; out-of-order input within
//! the allowed lateness gives the same findings as sorted input; replay's
//! findings do not depend on the number of threads.

mod common;

use std::sync::Arc;

use proptest::prelude::*;
use tokenhound::engine::{EngineConfig, RevocationView, Session};
use tokenhound::ingest::{IngestConfig, Ingestor, Profile};
use tokenhound::model::{AccessEvent, EventTime, SourcePos};
use tokenhound::rules::load_dir;
use tokenhound::token::{IdentityKeys, ResolverConfig, TokenResolver};

fn ingestor(profile: Profile) -> Ingestor {
    let r = TokenResolver::new(IdentityKeys::new(b"property-tests"), None, ResolverConfig::default());
    Ingestor::new(IngestConfig { profile, ..Default::default() }, r)
}

const PROFILES: [Profile; 7] = [
    Profile::Auto,
    Profile::Kong,
    Profile::Envoy,
    Profile::AwsApigw,
    Profile::Traefik,
    Profile::Nginx,
    Profile::Tokenhound,
];

/// Realistic-looking fragments so mutations reach deep into the parsers.
fn seeds() -> Vec<Vec<u8>> {
    let root = common::root();
    let mut v = Vec::new();
    for f in [
        "sample-logs/logs/kong/stories.ndjson",
        "sample-logs/logs/traefik/stories.ndjson",
        "tests/scenarios/forged-alg-none/events.ndjson",
    ] {
        for l in std::fs::read_to_string(root.join(f)).unwrap().lines().take(4) {
            v.push(l.as_bytes().to_vec());
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let src = SourcePos::Test { name: "prop".into(), index: 0 };
        for p in PROFILES {
            let mut out = Vec::new();
            let _ = ingestor(p).ingest(&bytes, &src, &mut out);
        }
    }

    #[test]
    fn parsers_never_panic_on_mutated_log_lines(seed in 0usize..10, edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..12)) {
        let seeds = seeds();
        let mut line = seeds[seed % seeds.len()].clone();
        for (pos, byte, op) in edits {
            if line.is_empty() { break; }
            let i = pos as usize % line.len();
            match op {
                0 => line[i] = byte,
                1 => { line.insert(i, byte); }
                _ => { line.truncate(i); }
            }
        }
        let src = SourcePos::Test { name: "prop".into(), index: 0 };
        for p in PROFILES {
            let mut out = Vec::new();
            let _ = ingestor(p).ingest(&line, &src, &mut out);
        }
    }
}

/// A mixed stream: several tokens, places and clients, sorted by time.
fn events() -> Vec<AccessEvent> {
    let text = [
        "stolen-replayed-other-continent",
        "browser-replayed-with-curl",
        "concurrent-networks",
        "benign-roaming",
        "expired-accepted",
        "forged-alg-none",
    ]
    .iter()
    .map(|c| std::fs::read_to_string(common::root().join("tests/scenarios").join(c).join("events.ndjson")).unwrap())
    .collect::<Vec<_>>()
    .join("");
    let mut ing = ingestor(Profile::Tokenhound);
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let src = SourcePos::File { path: "mixed".into(), line: i as u64 + 1 };
        ing.ingest(l.as_bytes(), &src, &mut out).unwrap();
    }
    out.sort_by(|a, b| (a.time, &a.source).cmp(&(b.time, &b.source)));
    out
}

fn run(evs: Vec<AccessEvent>, lateness: i64) -> Vec<(String, String, EventTime)> {
    let rules = Arc::new(load_dir(&common::root().join("rules")).unwrap());
    let cfg = EngineConfig { allowed_lateness_secs: lateness, ..Default::default() };
    let mut e = Session::new(rules, Arc::new(RevocationView::default()), cfg);
    let mut f = Vec::new();
    for ev in evs {
        e.push(0, ev, &mut f);
        e.advance(&mut f);
    }
    e.finish(&mut f);
    f.into_iter().map(|x| (x.rule_id.to_string(), x.uid, x.time)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Delay each event by up to the lateness bound (a realistic disorder:
    /// an event is never later than `lateness` behind the newest one).
    #[test]
    fn out_of_order_within_lateness_equals_sorted(delays in proptest::collection::vec(0i64..=600, 64)) {
        let sorted = events();
        let expected = run(sorted.clone(), 600);
        prop_assert!(!expected.is_empty());
        // arrival order: by (time + delay), so disorder never exceeds 600 s
        let mut arrival: Vec<(i64, usize, AccessEvent)> = sorted
            .into_iter()
            .enumerate()
            .map(|(i, ev)| (ev.time.0 + delays[i % delays.len()] * 1_000_000, i, ev))
            .collect();
        arrival.sort_by_key(|(k, i, _)| (*k, *i));
        let shuffled = arrival.into_iter().map(|(_, _, e)| e).collect();
        prop_assert_eq!(run(shuffled, 600), expected);
    }
}

#[test]
fn disorder_beyond_lateness_is_counted_late() {
    let mut evs = events();
    let first = evs.remove(0);
    evs.push(first);
    let rules = Arc::new(load_dir(&common::root().join("rules")).unwrap());
    let mut e = Session::new(rules, Arc::new(RevocationView::default()), EngineConfig::default());
    let mut f = Vec::new();
    for ev in evs {
        e.push(0, ev, &mut f);
        e.advance(&mut f);
    }
    e.finish(&mut f);
    assert_eq!(e.stats().late, 1);
}

#[test]
fn replay_output_does_not_depend_on_thread_count() {
    let dir = common::tempdir();
    let log = dir.path().join("gen.ndjson");
    let revs = dir.path().join("revs.ndjson");
    let out = common::run(&[
        "gen",
        "--lines",
        "30000",
        "--seed",
        "11",
        "-o",
        log.to_str().unwrap(),
        "--revocations",
        revs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let alerts = |threads: &str| {
        let mut args: Vec<String> = vec!["replay".into(), "--threads".into(), threads.into()];
        args.extend(common::sample_flags());
        let i = args.iter().position(|a| a == "sample-logs/revocations.ndjson").unwrap();
        args[i] = revs.display().to_string();
        args.push(log.display().to_string());
        let o = common::bin().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", common::text(&o.stderr));
        common::text(&o.stdout)
    };
    let one = alerts("1");
    assert!(one.lines().count() >= 10, "planted thefts alert");
    assert_eq!(one, alerts("2"));
    assert_eq!(one, alerts("4"));
}
