//! `tokenhound stream` end to end, as a child process against a real
//! Kafka-protocol broker: tansu (started by `.ci/run` / `scripts/test.sh`,
//! named by TEST_KAFKA_BROKERS) and librdkafka's in-process mock cluster
//! (hermetic; it cannot look offsets up by time, so state rebuild, crash and
//! rebalance tests run on tansu).

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::collections::BTreeSet;
use std::time::Duration;

use kafka::*;
use rdkafka::mocking::MockCluster;
use serde_json::Value;

/// Replay's alerts on the sample logs, with the sample revocations.
fn sample_replay() -> Vec<Value> {
    replay_alerts(&[
        "--config",
        "sample-logs/tokenhound.toml",
        "--revocations",
        "sample-logs/revocations.ndjson",
        "sample-logs/logs",
    ])
}

fn sample_records() -> Vec<Vec<u8>> {
    let mut r = lines("sample-logs/logs/kong/stories.ndjson");
    r.extend(lines("sample-logs/logs/traefik/stories.ndjson"));
    r
}

fn alerts_of(brokers: &str, t: &Topics, want: usize, quiet_secs: u64) -> Vec<Value> {
    read_all(brokers, &t.name("alerts"), want, Duration::from_secs(quiet_secs)).iter().map(Rec::json).collect()
}

#[test]
#[allow(clippy::disallowed_methods)]
fn mock_cluster_sample_logs_alerts_match_replay_and_bad_records_are_dead_lettered() {
    let mock = MockCluster::new(1).expect("mock cluster");
    let brokers = mock.bootstrap_servers();
    let t = Topics::on_mock(&mock, &prefix("mock"), 4);
    let dir = tempfile::tempdir().unwrap();
    let cfg = stream_config(dir.path(), &brokers, &t, "");
    produce(&brokers, &t.name("revocations"), lines("sample-logs/revocations.ndjson"));
    let mut records = sample_records();
    let n_good = records.len();
    records.insert(3, b"{\"not json".to_vec());
    records.insert(7, vec![b'{', 0xff, 0xfe, b'}']);
    records.push(vec![b'x'; 2 << 20]); // beyond the 1 MiB line cap (neither broker here serves 10 MB records)
    produce(&brokers, &t.gateway(), records);

    let expected = sample_replay();
    assert_eq!(expected.len(), 13, "the sample logs raise 13 alerts (4 of them a subject reaching HIGH)");
    let mut p = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    let started = std::time::Instant::now();
    wait_for(60, "alerts on the alerts topic", || {
        assert!(p.alive(), "stream died: {}", p.log_text());
        let n = p.metric("tokenhound_findings_total", "");
        assert!(started.elapsed().as_secs() < 58, "{n} findings so far; log: {}", p.log_text());
        n >= expected.len() as f64
    });
    let alerts = alerts_of(&brokers, &t, expected.len(), 10);
    assert_eq!(alert_set(&alerts), alert_set(&expected), "stream and replay disagree");
    for a in &alerts {
        assert_eq!(a["class_uid"], 2004);
    }
    // every bad record is in the dead-letter topic, with its source and reason
    let dead = read_all(&brokers, &t.name("dead-letter"), 3, Duration::from_secs(10));
    assert_eq!(dead.len(), 3, "{dead:?}");
    let offsets: BTreeSet<&str> = dead.iter().filter_map(|d| d.header("tokenhound-source-offset")).collect();
    assert_eq!(offsets, BTreeSet::from(["3", "7", &*(n_good + 2).to_string()]));
    for d in &dead {
        assert_eq!(d.header("tokenhound-source-topic"), Some(&*t.gateway()));
        assert!(d.header("tokenhound-error").is_some_and(|e| !e.is_empty()));
        assert!(d.value.as_ref().is_some_and(|v| v.len() <= 64 * 1024), "dead letters are capped");
    }
    let big = dead.iter().find(|d| d.header("tokenhound-source-offset") == Some(&*(n_good + 2).to_string())).unwrap();
    assert_eq!(big.header("tokenhound-original-bytes"), Some(&*(2usize << 20).to_string()));
    assert_eq!(p.metric("tokenhound_dead_letters_total", "stage=\"ingest\""), 3.0);
    // the revocation feed was loaded (carol's revoked token raised revoked-use)
    assert!(alerts.iter().any(|a| a["finding_info"]["analytic"]["uid"] == "revoked-use"));
    // revocation requests are keyed by iss|jti on their compacted topic
    let reqs = read_all(&brokers, &t.name("revocation-requests"), 100, Duration::from_secs(3));
    assert!(!reqs.is_empty());
    let mut keys = BTreeSet::new();
    for r in reqs.iter().filter(|r| r.value.is_some()) {
        let v = r.json();
        assert_eq!(r.key.as_deref(), v["key"].as_str());
        keys.insert(r.key.clone().unwrap());
    }
    // once the watermark passes a token's exp, its request is tombstoned
    let tombstones: Vec<&Rec> = reqs.iter().filter(|r| r.value.is_none()).collect();
    assert!(!tombstones.is_empty(), "expired tokens' requests are tombstoned");
    assert!(tombstones.iter().all(|r| keys.contains(r.key.as_ref().unwrap())));
    assert_eq!(p.get("/livez").map(|r| r.0), Some(200));
    assert!(p.ready(), "ready once assigned and caught up");
    let st = p.stop(30);
    assert!(st.success(), "clean shutdown on SIGTERM: {st:?}");
}

/// `auto_offset_reset = "error"`: a group without a committed offset does
/// not jump anywhere; it raises an alarm and consumes nothing.
#[test]
fn mock_cluster_offset_reset_error_raises_an_alarm_instead_of_jumping() {
    let mock = MockCluster::new(1).expect("mock cluster");
    let brokers = mock.bootstrap_servers();
    let t = Topics::on_mock(&mock, &prefix("reset"), 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = stream_config(dir.path(), &brokers, &t, "auto_offset_reset = \"error\"");
    produce(&brokers, &t.gateway(), sample_records());
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    wait_for(60, "the alarm", || p.metric("tokenhound_alarms_total", "") > 0.0);
    assert_eq!(p.metric("tokenhound_events_total", ""), 0.0, "nothing consumed");
    assert!(p.log_text().contains("auto_offset_reset = error"), "{}", p.log_text());
    assert!(p.stop(30).success());
}

/// The independent client (kafka-python, pure Python) produces the sample
/// logs and reads the alerts back.
#[test]
fn tansu_independent_client_sample_logs() {
    let Some(brokers) = tansu() else { return };
    let t = Topics::on_tansu(&brokers, &prefix("indep"), 4);
    let dir = tempfile::tempdir().unwrap();
    // a tiny in-flight budget: the stages pause their partitions and resume
    let cfg = stream_config(dir.path(), &brokers, &t, "max_in_flight = 1");
    let client = common::root().join("tests/stream/kafka_client.py");
    let py = |args: &[&str]| {
        let out = std::process::Command::new("python3").arg(&client).args(args).output().expect("python3");
        assert!(out.status.success(), "kafka_client.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    py(&["produce", &brokers, &t.name("revocations"), "sample-logs/revocations.ndjson"]);
    py(&[
        "produce",
        &brokers,
        &t.gateway(),
        "sample-logs/logs/kong/stories.ndjson",
        "sample-logs/logs/traefik/stories.ndjson",
    ]);
    let expected = sample_replay();
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    let mut waited = 0;
    wait_for(60, "all alerts", || {
        waited += 1;
        let n = p.metric("tokenhound_findings_total", "");
        assert!(waited < 290, "{n} findings; {}", p.metrics_text());
        n >= expected.len() as f64
    });
    let got = py(&["consume", &brokers, &t.name("alerts"), &expected.len().to_string(), "20"]);
    let alerts: Vec<Value> = got.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alert_set(&alerts), alert_set(&expected));
    assert!(p.metric("tokenhound_pauses_total", "") > 0.0, "backpressure paused the inputs");
    assert!(p.stop(30).success());
}

/// A generated log with planted thefts (>= 100k events), produced as a
/// backlog over 3 gateway partitions (one per gateway node) into 4 events
/// partitions: exactly replay's alert set, each alert once; then the same
/// backlog with the detector killed (SIGKILL) mid-stream and restarted:
/// still the same set, duplicates identical, and the committed offsets of
/// the detect group never go backwards.
#[test]
fn tansu_generated_log_parity_and_sigkill_restart() {
    let Some(brokers) = tansu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gen.ndjson");
    let revs = dir.path().join("revs.ndjson");
    let out = common::bin()
        .args(["gen", "--lines", "120000", "--seed", "11", "-o"])
        .arg(&log)
        .arg("--revocations")
        .arg(&revs)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log_s = log.to_str().unwrap();
    let expected =
        replay_alerts(&["--config", "sample-logs/tokenhound.toml", "--revocations", revs.to_str().unwrap(), log_s]);
    assert!(expected.len() >= 10, "the generated log raises alerts ({})", expected.len());
    let records = lines(log_s);

    // uninterrupted
    let t = Topics::on_tansu_with(&brokers, &prefix("gen"), 4, 3);
    let cfg = stream_config(dir.path(), &brokers, &t, "");
    produce(&brokers, &t.name("revocations"), lines(revs.to_str().unwrap()));
    produce_spread(&brokers, &t.gateway(), records.clone(), 3);
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:kong", t.gateway())]);
    // the broker (tansu on sqlite, a core of its own) sets the pace: about
    // 150 s alone, and the other tests share it
    wait_for(480, "every alert", || p.metric("tokenhound_findings_total", "") >= expected.len() as f64);
    std::thread::sleep(Duration::from_secs(2));
    let alerts = alerts_of(&brokers, &t, usize::MAX, 5);
    assert_eq!(alert_set(&alerts), alert_set(&expected), "stream and replay disagree on the generated log");
    assert_eq!(alerts.len(), expected.len(), "no duplicates without a crash");
    assert_eq!(p.metric("tokenhound_events_total", "outcome=\"late\""), 0.0, "no event judged late: {}", p.log_text());
    assert!(p.stop(30).success());

    // killed with SIGKILL while the alerts are coming, then restarted
    let t = Topics::on_tansu_with(&brokers, &prefix("crash"), 4, 3);
    let cfg = stream_config(dir.path(), &brokers, &t, "instance_id = \"crash-test\"");
    produce(&brokers, &t.name("revocations"), lines(revs.to_str().unwrap()));
    produce_spread(&brokers, &t.gateway(), records, 3);
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:kong", t.gateway())]);
    wait_for(180, "a third of the alerts", || p.metric("tokenhound_findings_total", "") >= (expected.len() / 3) as f64);
    let before = committed(&brokers, &format!("{}.detect", t.prefix), &t.name("events"));
    p.kill9();
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:kong", t.gateway())]);
    let mut last = before.clone();
    wait_for(480, "the rest of the alerts", || {
        let now = committed(&brokers, &format!("{}.detect", t.prefix), &t.name("events"));
        for (k, v) in &now {
            assert!(*v >= *last.get(k).unwrap_or(&-1), "committed offset of {k} went back: {v} < {:?}", last.get(k));
        }
        last = now;
        let got = alerts_of(&brokers, &t, usize::MAX, 2);
        alert_set(&got) == alert_set(&expected)
    });
    let got = alerts_of(&brokers, &t, usize::MAX, 3);
    let mut by_uid = std::collections::BTreeMap::new();
    for a in &got {
        let uid = a["finding_info"]["uid"].as_str().unwrap().to_string();
        let mut a = a.clone();
        a["unmapped"] = Value::Null; // holds per-run counters
        if let Some(prev) = by_uid.insert(uid.clone(), a.clone()) {
            assert_eq!(alert_id(&prev), alert_id(&a), "duplicate {uid} differs");
        }
    }
    assert!(p.rebuilt() > 0.0, "the restarted detector rebuilt state from the events topic");
    assert!(p.stop(30).success());
}

/// The end offset of each partition of a topic that holds records.
fn high_watermarks(brokers: &str, topic: &str) -> std::collections::BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    (0..4)
        .filter_map(|p| c.fetch_watermarks(topic, p, Duration::from_secs(5)).ok().map(|(_, hi)| (p, hi)))
        .filter(|&(_, hi)| hi > 0)
        .collect()
}

/// Committed offsets of a group on a topic, by partition.
fn committed(brokers: &str, group: &str, topic: &str) -> std::collections::BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition(topic, p);
    }
    let Ok(c) = c.committed_offsets(tpl, Duration::from_secs(5)) else { return Default::default() };
    c.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

trait Rebuilt {
    fn rebuilt(&self) -> f64;
}

impl Rebuilt for StreamProc {
    fn rebuilt(&self) -> f64 {
        self.metric("tokenhound_events_total", "outcome=\"rebuild\"")
    }
}

/// Poison records (invalid JSON, a 2 MB record, invalid UTF-8) go to the
/// dead-letter topic with their reason; the stream goes on; three restarts
/// in a row come up ready and do not dead-letter them again.
#[test]
fn tansu_poison_records_and_restarts() {
    let Some(brokers) = tansu() else { return };
    let t = Topics::on_tansu(&brokers, &prefix("poison"), 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = stream_config(dir.path(), &brokers, &t, "");
    let mut records = lines("sample-logs/logs/kong/stories.ndjson");
    let good = records.len();
    records.insert(0, b"{\"request\": {\"headers\": ".to_vec());
    // tansu 0.6 serves no 10 MB record (an empty fetch)
    records.insert(1, vec![b'x'; 2 << 20]);
    // bytes that are not UTF-8, and a token: the dead letter keeps the bytes, not the token
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl";
    let bad =
        |t: &str| [b"{\"ua\": \"\xff\xfe\", \"authorization\": \"Bearer ".as_slice(), t.as_bytes(), b"\"}"].concat();
    records.insert(2, bad(jwt));
    produce(&brokers, &t.gateway(), records);
    let expected =
        replay_alerts(&["--config", "sample-logs/tokenhound.toml", "--profile", "kong", "sample-logs/logs/kong"]);
    let args = ["--input".to_string(), format!("{}:kong", t.gateway())];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = StreamProc::start(&cfg, &args);
    wait_for(60, "the good records' alerts", || p.metric("tokenhound_findings_total", "") >= expected.len() as f64);
    let dead = read_all(&brokers, &t.name("dead-letter"), 3, Duration::from_secs(10));
    assert_eq!(dead.len(), 3);
    let kinds: Vec<(&str, &str)> = dead
        .iter()
        .map(|d| (d.header("tokenhound-source-offset").unwrap(), d.header("tokenhound-error-kind").unwrap()))
        .collect();
    assert_eq!(kinds.iter().map(|k| k.0).collect::<Vec<_>>(), ["0", "1", "2"]);
    assert!(kinds[1].1.contains("too_long") || kinds[1].1.contains("long"), "10 MB record: {kinds:?}");
    assert_eq!(dead[2].value.as_deref(), Some(&*bad("<token redacted>")), "every byte but the token's");
    assert_eq!(dead[2].header("tokenhound-original-bytes"), Some(&*bad(jwt).len().to_string()));
    assert_eq!(p.metric("tokenhound_events_total", "stage=\"ingest\",outcome=\"bad\""), 3.0);
    assert!(p.metric("tokenhound_events_total", "stage=\"ingest\",outcome=\"ok\"") >= (good - 1) as f64);
    assert_eq!(alert_set(&alerts_of(&brokers, &t, expected.len(), 10)), alert_set(&expected));
    assert!(p.stop(30).success());
    for i in 0..3 {
        let mut p = StreamProc::start(&cfg, &args);
        wait_for(60, "ready after a restart", || {
            assert!(p.alive(), "restart {i} died: {}", p.log_text());
            p.ready()
        });
        std::thread::sleep(Duration::from_secs(2));
        assert!(p.alive());
        assert_eq!(p.metric("tokenhound_dead_letters_total", ""), 0.0, "restart {i} re-read committed records");
        assert!(p.stop(30).success(), "restart {i}");
    }
    assert_eq!(read_all(&brokers, &t.name("dead-letter"), 10, Duration::from_secs(3)).len(), 3);
}

/// The broker goes away for a while and comes back: the service notices
/// (/readyz), recovers by itself, and loses nothing.
#[test]
fn tansu_broker_down_then_back() {
    if tansu().is_none() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let mut broker = start_tansu(data.path(), port);
    let t = Topics::on_tansu(&brokers, &prefix("down"), 2);
    let cfg = stream_config(data.path(), &brokers, &t, "");
    produce(&brokers, &t.name("revocations"), lines("sample-logs/revocations.ndjson"));
    let records = sample_records();
    let half = records.len() / 2;
    produce(&brokers, &t.gateway(), records[..half].to_vec());
    let mut p = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    wait_for(60, "ready", || p.ready());
    wait_for(60, "first half consumed", || p.metric("tokenhound_events_total", "stage=\"ingest\"") >= half as f64);
    let _ = broker.kill();
    let _ = broker.wait();
    wait_for(60, "/readyz to report the broker gone", || p.get("/readyz").is_some_and(|(c, _)| c == 503));
    std::thread::sleep(Duration::from_secs(3));
    assert!(p.alive(), "the service must ride out a broker outage: {}", p.log_text());
    broker = start_tansu(data.path(), port);
    wait_for(90, "ready again", || p.ready());
    produce(&brokers, &t.gateway(), records[half..].to_vec());
    let expected = sample_replay();
    let mut tries = 0;
    wait_for(90, "every alert", || {
        tries += 1;
        let got = alert_set(&alerts_of(&brokers, &t, expected.len(), 2));
        assert!(tries < 25 || got == alert_set(&expected), "{got:?}\n{}", p.metrics_text());
        got == alert_set(&expected)
    });
    assert!(p.stop(30).success());
    let _ = broker.kill();
    let _ = broker.wait();
}

/// A tansu broker of the test's own (so it can be stopped), with sqlite
/// storage in `dir` (data survives the restart); retries "address in use".
fn start_tansu(dir: &std::path::Path, port: u16) -> std::process::Child {
    for _ in 0..50 {
        let url = format!("tcp://127.0.0.1:{port}");
        let mut c = std::process::Command::new(tansu_bin())
            .current_dir(dir)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start tansu");
        std::thread::sleep(Duration::from_millis(500));
        if c.try_wait().unwrap().is_none() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return c;
        }
        let _ = c.kill();
        let _ = c.wait();
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("tansu did not start on port {port}");
}

/// Two detector instances in one group over 4 partitions: both get work;
/// one leaves mid-stream, the other takes its partitions over (rebuilding
/// their state) and nothing is lost.
#[test]
fn tansu_two_detectors_share_partitions_and_a_rebalance_loses_nothing() {
    let Some(brokers) = tansu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gen.ndjson");
    let out = common::bin().args(["gen", "--lines", "60000", "--seed", "5", "-o"]).arg(&log).output().unwrap();
    assert!(out.status.success());
    let log_s = log.to_str().unwrap();
    let expected = replay_alerts(&["--config", "sample-logs/tokenhound.toml", log_s]);
    let t = Topics::on_tansu(&brokers, &prefix("group"), 4);
    let cfg = stream_config(dir.path(), &brokers, &t, "");
    let input = format!("{}:kong", t.gateway());
    let a = StreamProc::start(&cfg, &["--input", &input]);
    let b = StreamProc::start(&cfg, &["--input", &input, "--stage", "detect"]);
    let assigned = |p: &StreamProc| p.metric("tokenhound_assigned_partitions", "stage=\"detect\"");
    wait_for(90, "both detectors assigned", || assigned(&a) > 0.0 && assigned(&b) > 0.0);
    assert_eq!(assigned(&a) + assigned(&b), 4.0);
    produce(&brokers, &t.gateway(), lines(log_s));
    let detected = |p: &StreamProc| p.metric("tokenhound_events_total", "stage=\"detect\",outcome=\"ok\"");
    wait_for(120, "both detectors got work", || detected(&a) > 0.0 && detected(&b) > 0.0);
    assert!(b.stop(30).success());
    wait_for(90, "the survivor owns every partition", || assigned(&a) == 4.0);
    wait_for(240, "every alert", || alert_set(&alerts_of(&brokers, &t, usize::MAX, 2)) == alert_set(&expected));
    assert!(a.stop(30).success());
}

/// Weeks of subject history through the stream: every token stolen at
/// issuance is caught live by `new-place-for-subject`, and the stream's
/// findings (baselines, risk levels) are replay's, whatever the partitioning
/// (4 events partitions, 3 gateway partitions).
#[test]
fn tansu_subject_baselines_catch_silent_thefts_like_replay() {
    let Some(brokers) = tansu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = (dir.path().join("story.ndjson"), dir.path().join("truth.ndjson"));
    let out = common::bin()
        .args(["gen", "--story", "subjects", "--users", "120", "--seed", "5", "-o"])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = replay_alerts(&["--config", "sample-logs/tokenhound.toml", log.to_str().unwrap()]);
    let stolen: BTreeSet<String> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|t| t["kind"] == "issuance-theft")
        .map(|t| t["token"].as_str().unwrap().to_string())
        .collect();
    assert!(stolen.len() >= 5);
    let t = Topics::on_tansu_with(&brokers, &prefix("subjects"), 4, 3);
    let cfg = stream_config(dir.path(), &brokers, &t, "");
    produce_spread(&brokers, &t.gateway(), lines(log.to_str().unwrap()), 3);
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:kong", t.gateway())]);
    wait_for(240, "every alert", || p.metric("tokenhound_findings_total", "") >= expected.len() as f64);
    std::thread::sleep(Duration::from_secs(2));
    let alerts = alerts_of(&brokers, &t, usize::MAX, 5);
    assert_eq!(alert_set(&alerts), alert_set(&expected), "stream and replay disagree on subject baselines");
    let caught: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a["finding_info"]["analytic"]["uid"] == "new-place-for-subject")
        .map(|a| a["actor"]["session"]["uid"].as_str().unwrap_or("").to_string())
        .collect();
    for s in &stolen {
        assert!(caught.contains(s), "the stream missed the silent theft {s}");
    }
    assert!(p.stop(30).success());
}

/// Subject baselines outlive a SIGKILL: the learning weeks go through one
/// stream process, which is killed; a restarted one (whose token rebuild
/// reaches back only seconds) reads the baseline snapshots back and catches
/// the silent thefts of the following days exactly as one replay of the
/// whole log does. Without the snapshot topic the restarted stream is blind.
#[test]
fn tansu_subject_baselines_survive_sigkill_and_restart() {
    let Some(brokers) = tansu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("story.ndjson");
    let out = common::bin()
        .args(["gen", "--story", "subjects", "--users", "100", "--seed", "6", "-o"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = replay_alerts(&["--config", "sample-logs/tokenhound.toml", log.to_str().unwrap()]);
    // day 9, 08:00: no session spans it; the thefts come after
    let cut: i64 = 1_794_384_000_000;
    let at = |l: &[u8]| serde_json::from_slice::<Value>(l).unwrap()["started_at"].as_i64().unwrap();
    let (before, after): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        lines(log.to_str().unwrap()).into_iter().partition(|l| at(l) < cut);
    let later = |a: &[Value]| -> BTreeSet<String> {
        a.iter()
            .filter(|a| {
                a["finding_info"]["analytic"]["uid"] == "new-place-for-subject" && a["time"].as_i64().unwrap() >= cut
            })
            .map(|a| a["finding_info"]["uid"].as_str().unwrap().to_string())
            .collect()
    };
    let want = later(&expected);
    assert!(want.len() >= 4, "the story's thefts: {want:?}");
    let run = |name: &str, extra: &str| -> (Vec<Value>, f64, String) {
        let t = Topics::on_tansu_with(&brokers, &prefix(name), 4, 3);
        let extra = format!("max_token_lifetime = \"5s\"\nidle_timeout = \"2s\"\ninstance_id = \"{name}\"\n{extra}");
        let cfg = stream_config(dir.path(), &brokers, &t, &extra);
        let input = format!("{}:kong", t.gateway());
        produce_spread(&brokers, &t.gateway(), before.clone(), 3);
        let p = StreamProc::start(&cfg, &["--input", &input]);
        let n = before.len() as f64;
        wait_for(180, "the learning weeks", || {
            p.metric("tokenhound_events_total", "stage=\"detect\",outcome=\"ok\"") >= n
        });
        // both stages have committed all they read (a kill before a commit
        // would replay the weeks live on restart), and snapshots are out (1 s)
        let done = |g: String, topic: String, want: &dyn Fn(&std::collections::BTreeMap<i32, i64>) -> bool| {
            let what = format!("the {g} offsets committed");
            wait_for(60, &what, || {
                want(&committed(&brokers, &g, &topic).into_iter().filter(|&(_, o)| o > 0).collect())
            });
        };
        let gateway_end = high_watermarks(&brokers, &t.gateway());
        assert!(!gateway_end.is_empty(), "the gateway topic's end offsets");
        done(format!("{}.ingest", t.prefix), t.gateway(), &|c| *c == gateway_end);
        // the events topic keeps growing (watermark records): what ingest had
        // written by now, detect has committed
        let events_end = high_watermarks(&brokers, &t.name("events"));
        assert!(!events_end.is_empty(), "the events topic's end offsets");
        done(format!("{}.detect", t.prefix), t.name("events"), &|c| {
            events_end.iter().all(|(p, hi)| c.get(p).is_some_and(|o| o >= hi))
        });
        std::thread::sleep(Duration::from_secs(2));
        let snapshots = p.metric("tokenhound_baseline_snapshots_total", "");
        p.kill9();
        std::thread::sleep(Duration::from_secs(6)); // past the token lifetime: no rebuild of the weeks
        let p = StreamProc::start(&cfg, &["--input", &input]);
        wait_for(60, "the restarted stream ready", || p.ready());
        // what the restarted stream knew before the following days (for a
        // failure's message: a rebuild or a restore, or learned live)
        let known = format!(
            "at ready: {} subjects tracked, {} records rebuilt",
            p.metric("tokenhound_tracked_subjects", "").max(0.0),
            p.metric("tokenhound_events_total", "stage=\"detect\",outcome=\"rebuild\"").max(0.0)
        );
        produce_spread(&brokers, &t.gateway(), after.clone(), 3);
        let m = after.len() as f64;
        wait_for(180, "the following days", || {
            p.metric("tokenhound_events_total", "stage=\"detect\",outcome=\"ok\"") >= m
        });
        std::thread::sleep(Duration::from_secs(4));
        let alerts = alerts_of(&brokers, &t, usize::MAX, 5);
        assert!(p.stop(30).success());
        (alerts, snapshots, known)
    };
    let (alerts, snapshots, _) = run("baselines-kill", "");
    assert!(snapshots > 50.0, "snapshots written before the kill: {snapshots}");
    assert_eq!(later(&alerts), want, "the restarted stream finds the thefts replay finds");
    // the control: the same run without a snapshot topic forgets the weeks
    let (blind, _, known) = run("baselines-none", "baselines_topic = \"no-such-topic\"");
    assert!(
        later(&blind).is_empty(),
        "without snapshots nobody is past the learning period ({known}): {:?}",
        later(&blind)
    );
}

/// `tokenhound events dump` reads the binary events topic back as JSON: one
/// event line per event detect consumed, watermark records apart, records it
/// cannot read named with their kind (an unknown version, garbage), no raw
/// token anywhere, and `--partition`/`--max` narrow it.
#[test]
fn tansu_events_dump_reads_the_binary_topic() {
    let Some(brokers) = tansu() else { return };
    let t = Topics::on_tansu(&brokers, &prefix("dump"), 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = stream_config(dir.path(), &brokers, &t, "");
    produce(&brokers, &t.name("revocations"), lines("sample-logs/revocations.ndjson"));
    produce(&brokers, &t.gateway(), sample_records());
    let expected = sample_replay();
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    wait_for(90, "all alerts", || p.metric("tokenhound_findings_total", "") >= expected.len() as f64);
    let detected = p.metric("tokenhound_events_total", "stage=\"detect\"");
    assert!(p.stop(30).success());
    assert!(detected > 10.0, "{detected}");
    produce(&brokers, &t.name("events"), [vec![9u8, 1, 2, 3], b"{not json".to_vec()]);
    let dump = |args: &[&str]| {
        let out = common::bin().args(["events", "--config"]).arg(&cfg).arg("dump").args(args).output().unwrap();
        (out.status.code(), common::text(&out.stdout), common::text(&out.stderr))
    };
    let (code, out, err) = dump(&[]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect();
    let events: Vec<&Value> = lines.iter().filter(|l| l.get("event").is_some()).collect();
    assert_eq!(events.len() as f64, detected, "one line per event detect read");
    for e in &events {
        assert!(e["partition"].is_i64() && e["offset"].is_i64() && e["key"].is_string(), "{e}");
        assert!(e["event"]["time_us"].is_i64() && e["event"]["v"] == 1, "{e}");
    }
    assert!(events.iter().any(|e| e["event"]["token"]["verdict"].is_string()), "tokens and their verdicts");
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds, ["unsupported_event_version", "bad_event"], "{err}");
    assert!(err.contains("2 unreadable"), "{err}");
    assert!(!out.contains("eyJ"), "no raw token in the dump");
    let (code, out, _) = dump(&["--partition", "1", "--max", "1"]);
    assert_eq!(code, Some(0));
    let one: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((one.len(), one[0]["partition"].as_i64()), (1, Some(1)), "{out}");
    let (code, _, err) = dump(&["--partition", "7"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("has no partition 7"), "{err}");

    // a pack with a bad entry between two good events: detect judges the
    // good ones, and the dead letter holds only the bad entry (the others
    // are other subjects' events), framed again as a pack that still reads
    // with a JWT-shaped word redacted
    use tokenhound::stream::wire::pack::{self, Pack};
    let (mut evs, mut strings) = (Vec::new(), tokenhound::ingest::Interner::new(64));
    let packed = read_all(&brokers, &t.name("events"), usize::MAX, Duration::from_secs(3));
    let two = packed.iter().filter_map(|r| r.value.as_deref()).any(|v| {
        evs.clear();
        v.first() == Some(&pack::VERSION) && pack::decode(v, &mut strings, &mut evs).is_ok() && evs.len() >= 2
    });
    assert!(two, "a pack of two events or more");
    let mut crafted = Pack::default();
    crafted.push(&evs[0].0, evs[0].1, &mut Vec::new());
    // a host name shaped like a JWT in it: redacted, of the same length
    let bad = b"\x02\x01garbage https://login.microsoftonline.com/x";
    crafted.push_record(bad);
    crafted.push(&evs[1].0, evs[1].1, &mut Vec::new());
    produce(&brokers, &t.name("events"), [crafted.bytes().to_vec()]);
    let p = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    let dead = |d: &Rec| {
        d.header("tokenhound-stage") == Some("detect")
            && d.value.as_deref().is_some_and(|v| v.first() == Some(&pack::VERSION))
    };
    wait_for(90, "the pack's dead letter", || {
        read_all(&brokers, &t.name("dead-letter"), usize::MAX, Duration::from_secs(1)).iter().any(dead)
    });
    let ok = p.metric("tokenhound_events_total", "stage=\"detect\",outcome=\"ok\"");
    assert!(p.stop(30).success());
    let letters = read_all(&brokers, &t.name("dead-letter"), usize::MAX, Duration::from_secs(2));
    let d = letters.iter().find(|d| dead(d)).unwrap();
    let want = [&[pack::VERSION, bad.len() as u8][..], b"\x02\x01garbage https://<token redacted>*********/x"].concat();
    assert_eq!(d.value.as_deref(), Some(&want[..]), "only the bad entry, framed, its host redacted in place");
    assert_eq!(d.header("tokenhound-error-kind"), Some("bad_event"));
    assert!(d.header("tokenhound-error").is_some_and(|e| e.starts_with("entry 1 of a pack")), "{d:?}");
    assert_eq!(d.header("tokenhound-original-bytes"), Some(&*crafted.len().to_string()));
    assert!(ok >= 2.0, "the pack's two good events were judged: {ok}");
}

/// Packed events (format 3) go to the partition librdkafka's default
/// partitioner gives their key, so a subject stays on one events partition
/// while ingest stages that write one record per event (format 2) still run.
#[test]
fn tansu_a_packed_key_lands_where_librdkafka_puts_it() {
    use rdkafka::producer::{BaseRecord, Producer};
    let Some(brokers) = tansu() else { return };
    let t = Topics::on_tansu(&brokers, &prefix("partitioner"), 7);
    let topic = t.name("events");
    let keys: Vec<String> = (0..200)
        .map(|i| match i % 3 {
            0 => format!("%s|https://idp.example|user-{i}"),
            1 => format!("https://idp.example|jti-{i}-\u{e9}"),
            _ => format!("fp:{:064x}", i * 7919),
        })
        .collect();
    let p = producer(&brokers);
    for k in &keys {
        p.send(BaseRecord::<str, [u8]>::to(&topic).key(k.as_str()).payload(b"x")).unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let got = read_all(&brokers, &topic, keys.len(), Duration::from_secs(10));
    assert_eq!(got.len(), keys.len());
    let spread: BTreeSet<i32> = got.iter().map(|r| r.partition).collect();
    assert!(spread.len() >= 6, "the keys spread over the partitions: {spread:?}");
    for r in &got {
        let k = r.key.as_deref().unwrap();
        assert_eq!(tokenhound::stream::wire::partition_for(k.as_bytes(), 7), r.partition, "{k}");
    }
}

/// A detector restarted after a quiet spell longer than the token lifetime
/// rebuilds nothing: no record of the events topic lies in the rebuild
/// window. Tansu 0.6 answers a time past a partition's last record with
/// offset 0 where Kafka answers none; read from there, the whole partition
/// would rebuild, and teach its subjects' baselines weeks that a restart
/// without snapshots must forget. Detect skips the records produced before
/// the window instead. `--stage detect` alone: nothing writes to the events
/// topic while it starts.
#[test]
fn tansu_a_restart_after_the_token_lifetime_rebuilds_nothing() {
    let Some(brokers) = tansu() else { return };
    let t = Topics::on_tansu(&brokers, &prefix("quiet"), 2);
    let dir = tempfile::tempdir().unwrap();
    let extra = "max_token_lifetime = \"3s\"\nidle_timeout = \"2s\"\ninstance_id = \"quiet\"\n";
    let cfg = stream_config(dir.path(), &brokers, &t, extra);
    produce(&brokers, &t.gateway(), sample_records());
    let input = format!("{}:auto", t.gateway());
    let p = StreamProc::start(&cfg, &["--input", &input]);
    // both stages have read and committed everything (the short lifetime
    // changes the findings, so wait on offsets, not on the sample's alerts)
    let gateway_end = high_watermarks(&brokers, &t.gateway());
    let group = |stage: &str| format!("{}.{stage}", t.prefix);
    wait_for(90, "ingest's offsets committed", || committed(&brokers, &group("ingest"), &t.gateway()) == gateway_end);
    let events_end = high_watermarks(&brokers, &t.name("events"));
    assert!(events_end.values().sum::<i64>() > 10, "the events topic holds records: {events_end:?}");
    wait_for(60, "detect's offsets committed", || {
        let c = committed(&brokers, &group("detect"), &t.name("events"));
        events_end.iter().all(|(k, v)| c.get(k).is_some_and(|o| o >= v))
    });
    assert!(p.metric("tokenhound_findings_total", "") > 0.0, "the first run found the sample's thefts");
    assert!(p.stop(30).success());
    std::thread::sleep(Duration::from_secs(5)); // past the token lifetime
    let p = StreamProc::start(&cfg, &["--input", &input, "--stage", "detect"]);
    wait_for(60, "the restarted detector ready", || p.ready());
    std::thread::sleep(Duration::from_secs(1));
    // (-1 if /metrics did not answer: that fails too)
    assert_eq!(p.rebuilt(), 0.0, "nothing to rebuild after a quiet spell: {}", p.metrics_text());
    assert_eq!(p.metric("tokenhound_findings_total", ""), 0.0, "no finding again");
    assert!(p.stop(30).success());
}

/// The statistics librdkafka writes (a consumer of librdkafka's mock
/// cluster, committing as it goes through 50 records) read by tokenhound's
/// narrow decoder as rdkafka's full `Statistics` reads them: whether a
/// broker is up, and the lag.
#[test]
#[allow(clippy::disallowed_methods)]
fn librdkafka_statistics_read_as_rdkafka_reads_them() {
    use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
    use std::sync::Mutex;
    struct Grab(Mutex<Vec<Vec<u8>>>);
    impl rdkafka::ClientContext for Grab {
        fn stats_raw(&self, raw: &[u8]) {
            self.0.lock().unwrap().push(raw.to_vec());
        }
    }
    impl ConsumerContext for Grab {}
    let mock = MockCluster::new(1).expect("mock cluster");
    let brokers = mock.bootstrap_servers();
    mock.create_topic("stats", 1, 1).unwrap();
    produce(&brokers, "stats", (0..50).map(|i| format!("{i}").into_bytes()));
    let c: BaseConsumer<Grab> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "stats")
        .set("statistics.interval.ms", "100")
        .set("auto.commit.interval.ms", "100")
        .create_with_context(Grab(Mutex::new(Vec::new())))
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("stats", 0, rdkafka::Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut got = 0;
    while got < 10 {
        if let Some(m) = c.poll(Duration::from_secs(5)) {
            m.unwrap();
            got += 1;
        }
    }
    let mut checked = 0;
    wait_for(30, "statistics with a lag", || {
        if let Some(m) = c.poll(Duration::from_millis(50)) {
            m.unwrap();
        }
        for raw in std::mem::take(&mut *c.context().0.lock().unwrap()) {
            let ours = tokenhound::stream::kstats::Stats::parse(&raw).unwrap();
            let full: rdkafka::statistics::Statistics = serde_json::from_slice(&raw).unwrap();
            assert_eq!(ours.client_type, full.client_type);
            let up = full.brokers.values().any(|b| b.state == "UP");
            assert_eq!(ours.any_broker_up(), up);
            let lag: i64 = full
                .topics
                .values()
                .flat_map(|t| t.partitions.values())
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum();
            assert_eq!(ours.consumer_lag(), lag);
            if up && lag > 0 {
                checked += 1;
            }
        }
        checked > 0
    });
}
