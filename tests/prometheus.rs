//! What an operator runs beside tokenhound, against the real thing: Debian's
//! `prometheus` server on 127.0.0.1 scrapes `tokenhound stream` and
//! `tokenhound respond` (on librdkafka's mock cluster, with a real Redis)
//! every second, evaluates the shipped alert rules
//! (deploy/prometheus/tokenhound-alerts.yml), and its HTTP API answers with
//! the values this test caused. `promtool` checks and unit-tests the rules;
//! every metric the rules and the Grafana dashboard name must be one the
//! binaries expose (a renamed metric fails here).

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kafka::*;
use rdkafka::mocking::MockCluster;
use serde_json::{json, Value};

const RULES: &str = "deploy/prometheus/tokenhound-alerts.yml";
const DASHBOARD: &str = "deploy/grafana/tokenhound.json";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tool installed by the test command, or None (skipped) without it.
fn tool(env: &str, name: &str) -> Option<String> {
    let bin = std::env::var(env).unwrap_or_else(|_| name.into());
    let ok = Command::new(&bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        assert!(std::env::var("TEST_REQUIRE_KAFKA").is_err(), "{name} is required here (scripts/test.sh installs it)");
        eprintln!("skipped: no {name}");
    }
    ok.then_some(bin)
}

fn redis() -> Option<(Killed, u16)> {
    let bin = tool("REDIS_SERVER", "redis-server")?;
    let port = free_port();
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let c = Killed(child);
    wait_for(20, "redis to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Some((c, port))
}

/// A Prometheus server scraping `targets` (job name, port) every second.
struct Prometheus {
    _proc: Killed,
    port: u16,
    log: std::path::PathBuf,
}

impl Prometheus {
    fn start(bin: &str, dir: &Path, targets: &[(&str, u16)]) -> Prometheus {
        let mut cfg = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n",
            common::root().join(RULES).display()
        );
        for (job, port) in targets {
            cfg += &format!("  - job_name: {job}\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n");
        }
        let path = dir.join("prometheus.yml");
        std::fs::write(&path, cfg).unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { _proc: Killed(child), port, log };
        wait_for(60, "prometheus to be ready", || p.get("/-/ready").is_some_and(|b| b.contains("Ready")));
        p
    }

    fn get(&self, path: &str) -> Option<String> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        let mut r = agent.get(format!("http://127.0.0.1:{}{path}", self.port)).call().ok()?;
        r.body_mut().read_to_string().ok()
    }

    fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let body = self.get(&format!("/api/v1/{path}?{}", qs.join("&"))).unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(v["status"], "success", "prometheus answered {body}");
        v["data"].clone()
    }

    /// An instant query's samples: (labels, value).
    fn query(&self, q: &str) -> Vec<(Value, f64)> {
        let d = self.api("query", &[("query", q)]);
        d["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
            .collect()
    }

    /// The single value of a query that sums to one sample (None: no sample yet).
    fn scalar(&self, q: &str) -> Option<f64> {
        self.query(q).first().map(|s| s.1)
    }

    /// Names of the alerts in state `firing`.
    fn firing(&self) -> BTreeSet<String> {
        let d = self.api("alerts", &[]);
        d["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
            .collect()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether `f` comes to hold within `secs` (polled every 250 ms).
#[allow(clippy::disallowed_methods)]
fn settle(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A stolen token happening now (London, then New York 10 s later), in
/// tokenhound's own log format: its alert's latency is seconds, not days.
fn fresh_theft(jti: &str) -> Vec<Vec<u8>> {
    let t = now();
    let line = |secs: i64, ip: &str| {
        json!({"time": secs, "client_ip": ip, "user_agent": "AcmeMobile/3.2.1 (Android 14)", "method": "GET",
               "path": "/v1/orders", "status": 200,
               "claims": {"iss": "https://idp.acme.example", "jti": jti, "sub": "fresh-user", "exp": t + 3600, "iat": t - 600}})
        .to_string()
        .into_bytes()
    };
    vec![line(t - 20, "198.18.1.10"), line(t - 10, "198.18.81.10")]
}

/// The end-to-end lane: a scrape of each process, the main series with the
/// values the test caused, and alerts firing for what it broke.
#[test]
fn prometheus_scrapes_stream_and_respond_and_the_shipped_alerts_fire() {
    let Some(prom) = tool("PROMETHEUS", "prometheus") else { return };
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mock = MockCluster::new(1).expect("mock cluster");
    let brokers = mock.bootstrap_servers();
    let t = Topics::on_mock(&mock, &prefix("prom"), 2);
    for s in ["parked", "audit"] {
        mock.create_topic(&t.name(s), 1, 1).unwrap();
    }
    // respond in enforce mode with a budget of 2 a minute: the sample's
    // revocations beyond it are parked (a revocation storm)
    let section = format!(
        "[respond]\nmode = \"enforce\"\nbudget_per_minute = 2\nparked_topic = \"{}\"\naudit_topic = \"{}\"\n\
         [respond.redis]\nurl = \"redis://127.0.0.1:{rport}/\"\nprefix = \"prom\"\n",
        t.name("parked"),
        t.name("audit")
    );
    let cfg = stream_config(dir.path(), &brokers, &t, &section);
    let mut records = lines("sample-logs/logs/kong/stories.ndjson");
    records.extend(lines("sample-logs/logs/traefik/stories.ndjson"));
    records.extend(fresh_theft("fresh-theft-1"));
    // the same records through replay give the findings to expect
    let input = dir.path().join("records.ndjson");
    let mut body = Vec::new();
    for r in &records {
        body.extend_from_slice(r);
        body.push(b'\n');
    }
    std::fs::write(&input, body).unwrap();
    let expected = replay_alerts(&["--config", cfg.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(expected.len() >= 10, "the sample stories and the fresh theft raise alerts: {}", expected.len());
    let bad = [b"{\"not json".to_vec(), vec![b'{', 0xff, b'}']];
    let produced = records.len() + bad.len();
    records.splice(3..3, bad.iter().cloned());
    produce(&brokers, &t.gateway(), records);

    let stream = StreamProc::start(&cfg, &["--input", &format!("{}:auto", t.gateway())]);
    let respond = StreamProc::start_cmd("respond", &cfg, &[]);
    let p = Prometheus::start(
        &prom,
        dir.path(),
        &[("tokenhound-stream", stream.port), ("tokenhound-respond", respond.port)],
    );
    let ctx = |what: &str| {
        format!(
            "{what}\nstream {}\nrespond {}\nprometheus log:\n{}",
            stream.metrics_text(),
            respond.metrics_text(),
            p.log_text()
        )
    };

    // both targets are scraped and up
    wait_for(60, "both targets up", || p.query("up{job=~\"tokenhound-.*\"} == 1").len() == 2);
    // every finding replay raises reached the alerts topic, and Prometheus has the count
    let findings = expected.len() as f64;
    let q = |q: &str| p.scalar(q);
    let ok = settle(90, || q("sum(tokenhound_findings_total{job=\"tokenhound-stream\"})") == Some(findings));
    assert!(ok, "{}", ctx(&format!("replay raised {findings} findings")));
    let by_rule = p.query("sum by (rule) (tokenhound_findings_total{job=\"tokenhound-stream\"})");
    for (labels, n) in &by_rule {
        let rule = labels["rule"].as_str().unwrap();
        let want = expected.iter().filter(|a| a["finding_info"]["analytic"]["uid"] == rule).count() as f64;
        assert_eq!(*n, want, "findings of {rule}");
    }
    // every gateway record was counted by ingest, the two bad ones dead-lettered
    let ingest = |o: &str| q(&format!("sum(tokenhound_events_total{{job=\"tokenhound-stream\",stage=\"ingest\"{o}}})"));
    assert!(settle(30, || ingest("") == Some(produced as f64)), "{}", ctx(&format!("{produced} records produced")));
    assert_eq!(ingest(",outcome=\"bad\""), Some(2.0), "{}", ctx("bad records"));
    assert_eq!(q("sum(tokenhound_dead_letters_total{job=\"tokenhound-stream\",stage=\"ingest\"})"), Some(2.0));
    // the alert-latency histogram: one observation per finding, the fresh
    // theft's (seconds old) below the 5-minute bucket, the sample's (weeks old) above
    let count = q("tokenhound_alert_latency_seconds_count{job=\"tokenhound-stream\"}");
    assert_eq!(count, Some(findings), "{}", ctx("latency count"));
    assert_eq!(q("tokenhound_alert_latency_seconds_bucket{job=\"tokenhound-stream\",le=\"+Inf\"}"), Some(findings));
    let fresh = expected
        .iter()
        .filter(|a| a["actor"]["session"]["uid"].as_str().is_some_and(|u| u.contains("fresh-theft-1")))
        .count();
    assert!(fresh >= 1, "the fresh theft raised an alert");
    let under_5m = q("tokenhound_alert_latency_seconds_bucket{job=\"tokenhound-stream\",le=~\"300(\\\\.0)?\"}");
    assert_eq!(under_5m, Some(fresh as f64), "{}", ctx("latency buckets"));
    // consumer lag is reported per stage: the gateway topic drains to 0; the
    // events topic keeps receiving ingest's watermark records (10 a second
    // per partition), committed every second, so its lag stays a few dozen
    let drained = settle(30, || {
        let lag = |stage: &str| {
            q(&format!("tokenhound_consumer_lag_messages{{job=\"tokenhound-stream\",stage=\"{stage}\"}}"))
        };
        lag("ingest") == Some(0.0) && lag("detect").is_some_and(|n| n < 100.0)
    });
    assert!(drained, "{}", ctx("consumer lag"));
    assert!(q("tokenhound_watermark_lag_seconds{job=\"tokenhound-stream\"}").is_some());
    assert_eq!(q("tokenhound_ready{job=\"tokenhound-stream\"}"), Some(1.0));

    // respond: each revocation request counted, 2 revoked in Redis, the rest parked
    let requests = read_all(&brokers, &t.name("revocation-requests"), 1000, Duration::from_secs(3))
        .iter()
        .filter(|r| r.value.is_some())
        .count();
    assert!(requests > 2, "more revocation requests than the budget: {requests}");
    let ok = settle(60, || {
        q("sum(tokenhound_events_total{job=\"tokenhound-respond\",stage=\"respond\",outcome=\"ok\"})")
            == Some(requests as f64)
    });
    assert!(ok, "{}", ctx(&format!("{requests} requests")));
    // what respond did, by hook and outcome, on its audit topic = in Prometheus
    let parked = read_all(&brokers, &t.name("parked"), 1000, Duration::from_secs(3)).len();
    assert!(parked > 0 && parked < requests, "{parked} of {requests} requests parked over a budget of 2");
    let mut audit: BTreeMap<(String, String), f64> = BTreeMap::new();
    let ok = settle(30, || {
        audit.clear();
        for r in read_all(&brokers, &t.name("audit"), 1000, Duration::from_secs(2)) {
            let v = r.json();
            let k = (v["hook"].as_str().unwrap_or("").to_string(), v["outcome"].as_str().unwrap_or("").to_string());
            *audit.entry(k).or_default() += 1.0;
        }
        let prom: BTreeMap<(String, String), f64> = p
            .query("sum by (hook, outcome) (tokenhound_response_actions_total{job=\"tokenhound-respond\"})")
            .into_iter()
            .filter(|s| s.1 > 0.0)
            .map(|(l, n)| {
                ((l["hook"].as_str().unwrap_or("").to_string(), l["outcome"].as_str().unwrap_or("").to_string()), n)
            })
            .collect();
        prom == audit
    });
    assert!(ok, "audit {audit:?}; {}", ctx("response actions"));
    assert_eq!(audit.iter().filter(|(k, _)| k.1 == "parked").map(|(_, n)| *n).sum::<f64>(), parked as f64);
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{rport}/")).unwrap().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("prom:*").query(&mut conn).unwrap();
    let delivered = audit.get(&("redis".to_string(), "delivered".to_string())).copied().unwrap_or(0.0);
    assert_eq!(keys.len() as f64, delivered, "deny-list entries = delivered actions");

    // the shipped rules fire for what the test broke: dead letters and a
    // revocation storm; nothing is down
    let mut firing = BTreeSet::new();
    let want = BTreeSet::from(["TokenhoundDeadLetters".to_string(), "TokenhoundRevocationStorm".to_string()]);
    let ok = settle(60, || {
        firing = p.firing();
        want.is_subset(&firing)
    });
    assert!(ok, "firing: {firing:?}; {}", ctx("alerts"));
    assert!(!firing.contains("TokenhoundDown") && !firing.contains("TokenhoundDeliveryFailures"), "{firing:?}");
    let rules = p.api("rules", &[]);
    let loaded: usize = rules["groups"].as_array().unwrap().iter().map(|g| g["rules"].as_array().unwrap().len()).sum();
    assert_eq!(loaded, rule_names().len(), "every shipped rule loaded");

    // every metric the rules and the dashboard use is one of the binaries' own
    let exposed: BTreeSet<String> =
        [&stream, &respond].iter().flat_map(|s| exposed_names(&s.get("/metrics").unwrap().1)).collect();
    let used = used_names(&std::fs::read_to_string(common::root().join(RULES)).unwrap())
        .into_iter()
        .chain(used_names(&std::fs::read_to_string(common::root().join(DASHBOARD)).unwrap()));
    for name in used {
        assert!(
            exposed.contains(&name),
            "{name} is used by the rules or the dashboard but not exposed; exposed: {exposed:?}"
        );
    }
    assert!(stream.stop(30).success());
    assert!(respond.stop(30).success());
}

/// Sample names the binaries expose: each `# TYPE` family with the suffixes
/// its type gives its samples (counter `_total`, histogram `_bucket`...).
fn exposed_names(metrics: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in metrics.lines() {
        let Some(rest) = l.strip_prefix("# TYPE ") else { continue };
        let mut it = rest.split(' ');
        let (name, kind) = (it.next().unwrap(), it.next().unwrap_or(""));
        let suffixes: &[&str] = match kind {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_count", "_sum", "_created"],
            "summary" => &["_count", "_sum", "_created"],
            "info" => &["_info"],
            _ => &[""],
        };
        for s in suffixes {
            out.insert(format!("{name}{s}"));
        }
    }
    out
}

/// `tokenhound_*` names in a rules file or dashboard.
fn used_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("tokenhound_") {
        let start = i + at;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        let before = start.checked_sub(1).map(|j| b[j]);
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

fn rule_names() -> Vec<String> {
    let text = std::fs::read_to_string(common::root().join(RULES)).unwrap();
    text.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).map(str::to_string).collect()
}

/// `promtool check rules` and the rules' unit tests
/// (deploy/prometheus/tokenhound-alerts.test.yml: every alert fires on the
/// series it is written for, and stays quiet on a healthy process).
#[test]
fn promtool_checks_and_unit_tests_the_shipped_rules() {
    let Some(promtool) = tool("PROMTOOL", "promtool") else { return };
    let root = common::root();
    let out = Command::new(&promtool).args(["check", "rules"]).arg(root.join(RULES)).output().unwrap();
    assert!(out.status.success(), "{}{}", common::text(&out.stdout), common::text(&out.stderr));
    let tests = root.join("deploy/prometheus/tokenhound-alerts.test.yml");
    let out = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&tests)
        .current_dir(root.join("deploy/prometheus"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", common::text(&out.stdout), common::text(&out.stderr));
    // every shipped alert has a unit test that makes it fire
    let t = std::fs::read_to_string(&tests).unwrap();
    for name in rule_names() {
        assert!(t.contains(&format!("alertname: {name}")), "{name} has no unit test in {}", tests.display());
    }
    // the dashboard is valid JSON with queries
    let d: Value = serde_json::from_str(&std::fs::read_to_string(root.join(DASHBOARD)).unwrap()).unwrap();
    let exprs: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 10, "{} queries", exprs.len());
}
