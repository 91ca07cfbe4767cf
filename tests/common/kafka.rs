//! Kafka helpers for the stream tests: the broker (tansu, started by
//! `.ci/run` / `scripts/test.sh`, or librdkafka's in-process mock cluster),
//! topics, a producer and a reader on the test side, and `tokenhound stream`
//! as a child process with its own topics, group and metrics port.
#![allow(dead_code, clippy::disallowed_methods)] // tests wait on the wall clock

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::common::{bin, root};

/// The tansu broker of this run, if any (`TEST_KAFKA_BROKERS=host:port`).
/// Without it the tansu tests are skipped, unless `TEST_REQUIRE_KAFKA=1`
/// (CI) makes that an error.
pub fn tansu() -> Option<String> {
    match std::env::var("TEST_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var("TEST_REQUIRE_KAFKA").is_err(),
                "TEST_REQUIRE_KAFKA is set but TEST_KAFKA_BROKERS names no broker"
            );
            eprintln!("skipped: no Kafka broker (run scripts/test.sh, or set TEST_KAFKA_BROKERS)");
            None
        }
    }
}

pub fn tansu_bin() -> String {
    std::env::var("TANSU").unwrap_or_else(|_| "tansu".into())
}

/// A unique topic prefix per test run.
pub fn prefix(name: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    format!("{name}-{}-{t}", std::process::id())
}

/// The topics of one test: `<prefix>.gateway` etc.
pub struct Topics {
    pub prefix: String,
}

impl Topics {
    pub fn gateway(&self) -> String {
        format!("{}.gateway", self.prefix)
    }
    pub fn name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// Create them on tansu (its CLI) with `parts` partitions for the events topic.
    pub fn on_tansu(broker: &str, prefix: &str, parts: u32) -> Topics {
        Topics::on_tansu_with(broker, prefix, parts, 1)
    }

    /// The same, with `gateway` partitions for the gateway topic.
    pub fn on_tansu_with(broker: &str, prefix: &str, parts: u32, gateway: u32) -> Topics {
        let st = Command::new(root().join("scripts/kafka-topics.sh"))
            .args([broker, prefix, &parts.to_string(), &gateway.to_string()])
            .env("TANSU", tansu_bin())
            .status()
            .expect("run scripts/kafka-topics.sh");
        assert!(st.success(), "creating topics on {broker} failed");
        Topics { prefix: prefix.to_string() }
    }

    pub fn on_mock(m: &MockCluster<'static, DefaultProducerContext>, prefix: &str, parts: i32) -> Topics {
        let t = Topics { prefix: prefix.to_string() };
        m.create_topic(&t.gateway(), 1, 1).unwrap();
        m.create_topic(&t.name("events"), parts, 1).unwrap();
        m.create_topic(&t.name("subject-baselines"), parts, 1).unwrap();
        for s in ["alerts", "revocation-requests", "dead-letter", "revocations"] {
            m.create_topic(&t.name(s), 1, 1).unwrap();
        }
        t
    }
}

pub fn producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "20000000")
        .set("linger.ms", "20")
        .set("enable.idempotence", "true")
        .create()
        .expect("test producer")
}

/// Produce each record (value only) to partition 0 of `topic`, in order.
pub fn produce(brokers: &str, topic: &str, records: impl IntoIterator<Item = Vec<u8>>) -> usize {
    produce_spread(brokers, topic, records, 1)
}

/// Produce records over `partitions` partitions, record `i` to `i % partitions`
/// (one partition per gateway node, each in its own order).
pub fn produce_spread(
    brokers: &str,
    topic: &str,
    records: impl IntoIterator<Item = Vec<u8>>,
    partitions: i32,
) -> usize {
    let p = producer(brokers);
    let mut n = 0;
    for r in records {
        let part = n as i32 % partitions.max(1);
        let mut rec: BaseRecord<'_, (), Vec<u8>> = BaseRecord::to(topic).payload(&r).partition(part);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    rec = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        n += 1;
    }
    p.flush(Duration::from_secs(60)).expect("flush the test producer");
    n
}

/// The non-empty lines of a file, as records.
pub fn lines(path: &str) -> Vec<Vec<u8>> {
    std::fs::read(root().join(path))
        .expect("read input")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Rec {
    pub partition: i32,
    pub key: Option<String>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
}

impl Rec {
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.value.as_deref().expect("a value")).expect("JSON record")
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.0 == k).map(|h| h.1.as_str())
    }
}

/// Every record of `topic` from the beginning, reading until `want` records
/// came or nothing new arrived for `quiet`.
pub fn read_all(brokers: &str, topic: &str, want: usize, quiet: Duration) -> Vec<Rec> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "tokenhound-test-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.message.max.bytes", "20000000")
        .create()
        .expect("test consumer");
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut last = Instant::now();
    while out.len() < want && last.elapsed() < quiet {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            last = Instant::now();
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| (x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Rec {
                partition: m.partition(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    out
}

/// A finding as compared across drivers: uid, rule, token, message.
pub fn alert_id(v: &Value) -> (String, String, String, String) {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    (s("/finding_info/uid"), s("/finding_info/analytic/uid"), s("/actor/session/uid"), s("/message"))
}

pub fn alert_set(alerts: &[Value]) -> BTreeSet<(String, String, String, String)> {
    alerts.iter().map(alert_id).collect()
}

/// `tokenhound replay` on the same inputs: the alerts stream must match.
pub fn replay_alerts(args: &[&str]) -> Vec<Value> {
    let out = bin().arg("replay").args(args).output().expect("run replay");
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A free loopback port for the metrics server.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `tokenhound stream` as a child process.
pub struct StreamProc {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

/// The settings file of a stream test: the sample settings plus `[stream]`.
pub fn stream_config(dir: &std::path::Path, brokers: &str, t: &Topics, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(root().join("sample-logs/tokenhound.toml")).unwrap();
    let cfg = format!(
        "{base}\n[stream]\nbrokers = \"{brokers}\"\ngroup = \"{p}\"\nevents_topic = \"{p}.events\"\nalerts_topic = \"{p}.alerts\"\n\
         requests_topic = \"{p}.revocation-requests\"\ndead_letter_topic = \"{p}.dead-letter\"\n\
         revocations_topics = [\"{p}.revocations\"]\nfeed_own_requests = false\n{extra}\n",
        p = t.prefix
    );
    let path = dir.join(format!("{}.toml", t.prefix));
    std::fs::File::create(&path).unwrap().write_all(cfg.as_bytes()).unwrap();
    path
}

impl StreamProc {
    pub fn start(config: &std::path::Path, args: &[&str]) -> StreamProc {
        Self::start_cmd("stream", config, args)
    }

    /// Any long-running subcommand (`stream`, `respond`).
    pub fn start_cmd(cmd: &str, config: &std::path::Path, args: &[&str]) -> StreamProc {
        Self::start_on(cmd, config, args, free_port())
    }

    /// On a given metrics/HTTP port.
    pub fn start_on(cmd: &str, config: &std::path::Path, args: &[&str], port: u16) -> StreamProc {
        let log = config.with_extension(format!("{port}.log"));
        let child = bin()
            .arg(cmd)
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .args(["--log", "info", "--log-json"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tokenhound stream");
        StreamProc { child, port, log }
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        let mut r = agent.get(format!("http://127.0.0.1:{}{path}", self.port)).call().ok()?;
        let code = r.status().as_u16();
        Some((code, r.body_mut().read_to_string().unwrap_or_default()))
    }

    /// A metric's value (summed over its label sets matching `filter`).
    pub fn metric(&self, name: &str, filter: &str) -> f64 {
        let Some((_, body)) = self.get("/metrics") else { return -1.0 };
        body.lines()
            .filter(|l| l.starts_with(name) && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The whole `/metrics` page and the log, for failure messages.
    pub fn metrics_text(&self) -> String {
        let m = self.get("/metrics").map(|(_, b)| b).unwrap_or_default();
        let m: Vec<&str> = m.lines().filter(|l| !l.starts_with('#')).collect();
        format!("metrics:\n{}\nlog:\n{}", m.join("\n"), self.log_text())
    }

    pub fn ready(&self) -> bool {
        self.get("/readyz").is_some_and(|(c, _)| c == 200)
    }

    /// SIGTERM, and the exit status within `secs`.
    pub fn stop(mut self, secs: u64) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "stream did not stop within {secs}s; log: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for StreamProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// Wait until `f` holds, or panic with `what` after `secs`.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // (a failing test prints it: how close the earlier waits came)
    eprintln!("waited {:?} for {what}", t0.elapsed());
}
