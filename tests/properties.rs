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

/// Apply `edits` (position, byte, op: set, insert, insert a quote, cut).
fn mutate(line: &mut Vec<u8>, edits: Vec<(u16, u8, u8)>) {
    for (pos, byte, op) in edits {
        if line.is_empty() {
            break;
        }
        let i = pos as usize % line.len();
        match op {
            0 => line[i] = byte,
            1 => line.insert(i, byte),
            2 => line.insert(i, b'"'),
            _ => line.truncate(i),
        }
    }
}

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
    fn parsers_never_panic_on_mutated_log_lines(seed in 0usize..10, edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..12)) {
        let seeds = seeds();
        let mut line = seeds[seed % seeds.len()].clone();
        mutate(&mut line, edits);
        let src = SourcePos::Test { name: "prop".into(), index: 0 };
        for p in PROFILES {
            let mut out = Vec::new();
            let _ = ingestor(p).ingest(&line, &src, &mut out);
        }
    }
}

/// `auto` reads a line after a Kong line as Kong first (a speed hint): the
/// events and the error must be exactly those of detection alone.
fn same_as_detection(line: &[u8]) -> Result<(), TestCaseError> {
    let src = SourcePos::Test { name: "prop".into(), index: 1 };
    let (mut warm, mut cold) = (ingestor(Profile::Auto), ingestor(Profile::Auto));
    let kong = &seeds()[0];
    let mut sink = Vec::new();
    warm.ingest(kong, &SourcePos::Test { name: "prop".into(), index: 0 }, &mut sink).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (ra, rb) = (warm.ingest(line, &src, &mut a), cold.ingest(line, &src, &mut b));
    prop_assert_eq!(format!("{ra:?} {a:?}"), format!("{rb:?} {b:?}"));
    Ok(())
}

/// A piece of a user agent: ordinary text, dots, JWTs and parts of them.
fn agent_piece(i: u8) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64(r#"{"sub":"a"}"#));
    match i % 9 {
        0 => "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36".into(),
        1 => jwt,
        2 => format!("token={}", &jwt[..jwt.len() - 2]),
        3 => ".".into(),
        4 => " Safari/537.36".into(),
        5 => "eyJ".into(),
        6 => "curl/8.5.0".into(),
        7 => "=".into(),
        _ => "x".repeat(30),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Kong lines whose user agents mix ordinary agents, dots, and JWTs
    /// (some past the agent size limit): one ingestor that has seen every
    /// earlier agent (and keeps those redaction left alone) gives each line
    /// exactly the agent a fresh ingestor gives it. So an agent seen clean
    /// before never lets a token through, and the cut, redacted text is
    /// the same.
    #[test]
    fn a_user_agent_seen_before_reads_as_it_reads_fresh(agents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..6), 1..24)) {
        let cfg = || IngestConfig { profile: Profile::Kong, max_user_agent_bytes: 64, ..Default::default() };
        let fresh = || Ingestor::new(cfg(), TokenResolver::new(IdentityKeys::new(b"ua"), None, ResolverConfig::default()));
        let mut seen = fresh();
        let src = SourcePos::Test { name: "ua".into(), index: 0 };
        // every agent twice: the second time it is in the clean interner
        for pieces in agents.iter().chain(agents.iter()) {
            let ua: String = pieces.iter().map(|i| agent_piece(*i)).collect();
            let line = serde_json::json!({"started_at": 1793606400000u64, "client_ip": "198.51.100.7",
                "request": {"method": "GET", "uri": "/a", "headers": {"user-agent": ua}}}).to_string();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            seen.ingest(line.as_bytes(), &src, &mut a).unwrap();
            fresh().ingest(line.as_bytes(), &src, &mut b).unwrap();
            let got = a[0].user_agent.as_deref().map(String::from);
            prop_assert_eq!(&got, &b[0].user_agent.as_deref().map(String::from), "agent {:?}", ua);
            prop_assert!(!got.unwrap_or_default().contains("eyJhbGciOiJIUzI1NiJ9."), "a token left in {:?}", ua);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_kong_hint_never_changes_what_auto_reads(seed in 0usize..12, edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 0..10)) {
        let mut seeds = seeds();
        seeds.push(br#"{"time":"2026-01-01T00:00:00Z","client_ip":"10.0.0.1","started_at":1767225600000,"request":{"uri":"/x"}}"#.to_vec());
        seeds.push(br#"{"started_at":null,"request":{"uri":"/x"},"time":"2026-01-01T00:00:00Z","client_ip":"10.0.0.1"}"#.to_vec());
        seeds.push(br#"{"started_at":1767225600000,"started_at":1767225600001,"request":{"uri":"/x"}}"#.to_vec());
        seeds.push(br#"{"request":{"uri":"/x","started_at":1767225600000},"remote_addr":"10.0.0.1","time_local":"01/Jan/2026:00:00:00 +0000"}"#.to_vec());
        let mut line = seeds[seed % seeds.len()].clone();
        mutate(&mut line, edits);
        same_as_detection(&line)?;
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

/// A hostile value: deep arrays or objects, wide arrays, long strings,
/// huge or odd numbers, escapes.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..200_000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
        (1usize..100_000).prop_map(|d| format!("{}1{}", r#"{"a":"#.repeat(d), "}".repeat(d))),
        (1usize..50_000).prop_map(|n| format!("[{}]", vec!["1"; n].join(","))),
        (1usize..900_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
        Just("1e400".to_string()),
        Just("-1e308".to_string()),
        Just("18446744073709551616".to_string()),
        Just("\"\\ud800\\udc00\\ud800\"".to_string()),
        Just("\"\\u0000\\u001b[2J\"".to_string()),
        Just("null".into()),
        Just("{}".into()),
    ]
}

/// Lines of each profile with a hostile value in one of their fields.
fn hostile_line(profile: usize, field: usize, v: &str) -> String {
    let base: [(&str, &[&str]); 6] = [
        (
            r#"{"started_at":1793600000000,"client_ip":"198.18.1.5","request":{"method":"GET","uri":"/","headers":{"user-agent":"ua","authorization":"Bearer a.b.c"}},"response":{"status":200},"jwt":{"iss":"i","jti":"j","aud":"a","exp":1}}"#,
            &["started_at", "client_ip", "uri", "user-agent", "authorization", "status", "aud", "exp", "jti", "jwt"],
        ),
        (
            r#"{"start_time":"2026-11-02T08:00:00Z","method":"GET","path":"/","response_code":200,"user_agent":"ua","jwt":{"iss":"i","jti":"j"}}"#,
            &["start_time", "path", "response_code", "user_agent", "jwt", "jti"],
        ),
        (
            r#"{"requestTimeEpoch":1793600000000,"sourceIp":"198.18.1.5","httpMethod":"GET","path":"/","status":"200","claims":{"iss":"i","jti":"j","exp":"5"}}"#,
            &["requestTimeEpoch", "sourceIp", "path", "status", "claims", "exp"],
        ),
        (
            r#"{"StartUTC":"2026-11-02T08:00:00Z","ClientHost":"198.18.1.5","RequestMethod":"GET","RequestPath":"/","DownstreamStatus":200,"request_Authorization":"Bearer x"}"#,
            &["StartUTC", "ClientHost", "RequestPath", "DownstreamStatus", "request_Authorization"],
        ),
        (
            r#"{"msec":1793600000.0,"remote_addr":"198.18.1.5","method":"GET","uri":"/","status":200,"jwt":{"iss":"i","jti":"j"}}"#,
            &["msec", "remote_addr", "uri", "status", "jwt", "jti"],
        ),
        (
            r#"{"time":"2026-11-02T08:00:00Z","client_ip":"198.18.1.5","status":200,"claims":{"iss":"i","jti":"j"},"geo":{"lat":1.0}}"#,
            &["time", "client_ip", "status", "claims", "jti", "geo", "lat"],
        ),
    ];
    let (line, fields) = base[profile % 6];
    let f = fields[field % fields.len()];
    // replace the value after the first `"f":`
    let key = format!("\"{f}\":");
    let Some(i) = line.find(&key) else { return line.to_string() };
    let start = i + key.len();
    let rest = &line[start..];
    let end = value_end(rest);
    format!("{}{v}{}", &line[..start], &rest[end..])
}

/// The length of the JSON value at the start of `s` (strings, numbers,
/// objects and arrays of the base lines).
fn value_end(s: &str) -> usize {
    let b = s.as_bytes();
    match b[0] {
        b'"' => s[1..].find('"').map_or(s.len(), |i| i + 2),
        b'{' | b'[' => {
            let mut depth = 0;
            for (i, c) in b.iter().enumerate() {
                match c {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
            }
            s.len()
        }
        _ => s.find([',', '}']).unwrap_or(s.len()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// Deep, wide and long values in any field of any profile: an error or
    /// an event, never an abort, on a 2 MiB stack (a replay worker's).
    #[test]
    fn hostile_values_never_abort_in_process(profile in 0usize..6, field in 0usize..10, v in hostile_value()) {
        let line = hostile_line(profile, field, &v);
        let h = std::thread::Builder::new().stack_size(2 << 20).spawn(move || {
            let src = SourcePos::Test { name: "hostile".into(), index: 0 };
            for p in PROFILES {
                let (mut out, mut errs) = (Vec::new(), Vec::new());
                ingestor(p).ingest_all(line.as_bytes(), &src, &mut out, &mut errs);
                assert!(out.is_empty() || errs.is_empty() || p == Profile::Kong, "an event and an error for one record");
            }
        }).unwrap();
        prop_assert!(h.join().is_ok());
    }
}

/// The same hostile lines through the binary, every profile at once:
/// `--skip-errors` ends with 0, never a signal.
#[test]
fn hostile_values_never_abort_the_binary() {
    let dir = common::tempdir();
    let log = dir.path().join("hostile.ndjson");
    let values = [
        format!("{}{}", "[".repeat(120_000), "]".repeat(120_000)),
        format!("{}1{}", r#"{"a":"#.repeat(60_000), "}".repeat(60_000)),
        format!("[{}]", vec!["1"; 40_000].join(",")),
        format!("\"{}\"", "y".repeat(500_000)),
        "1e400".into(),
        "\"\\ud800\"".into(),
    ];
    let mut lines = Vec::new();
    for p in 0..6 {
        for f in 0..10 {
            for v in &values {
                lines.push(hostile_line(p, f, v));
            }
        }
    }
    std::fs::write(&log, lines.join("\n")).unwrap();
    for threads in ["1", "2"] {
        let out =
            common::run(&["replay", "--rules", "rules", "--skip-errors", "--threads", threads, log.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    }
}
