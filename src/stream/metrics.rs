//! What the stages share with each other and with the operator: Prometheus
//! metrics (`tokenhound_` prefix, base units, `_total` counters, no token,
//! user or address ever a label), health (`/livez`, `/readyz`), the offset
//! tracker, the shutdown flag and fatal errors. Served over HTTP with axum.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::offsets::Tracker;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

impl StageLabel {
    pub fn new(stage: &str) -> Self {
        StageLabel { stage: stage.to_string() }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub stage: String,
    /// ok | no_token | bad | late | rebuild
    pub outcome: String,
}

/// A stage's `tokenhound_events_total` counters, each looked up once: a
/// poll loop counts events without building label strings per record.
pub struct Outcomes {
    stage: &'static str,
    seen: std::cell::RefCell<Vec<(&'static str, Counter)>>,
}

impl Outcomes {
    pub fn new(stage: &'static str) -> Self {
        Outcomes { stage, seen: Default::default() }
    }

    /// Count `n` events of `outcome` (a series appears on its first count).
    pub fn add(&self, m: &Metrics, outcome: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        let mut seen = self.seen.borrow_mut();
        if let Some((_, c)) = seen.iter().find(|(o, _)| *o == outcome) {
            c.inc_by(n);
            return;
        }
        let l = OutcomeLabels { stage: self.stage.into(), outcome: outcome.into() };
        let c = m.events.get_or_create(&l).clone();
        c.inc_by(n);
        seen.push((outcome, c));
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeOnly {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookOutcome {
    pub hook: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub stage: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CauseLabel {
    pub cause: String,
}

pub struct Metrics {
    pub events: Family<OutcomeLabels, Counter>,
    pub findings: Family<RuleLabel, Counter>,
    pub dead_letters: Family<KindLabels, Counter>,
    pub evictions: Family<CauseLabel, Counter>,
    pub tracked_tokens: Gauge,
    pub consumer_lag: Family<StageLabel, Gauge>,
    pub alert_latency: Histogram,
    pub revocation_requests: Counter,
    pub tombstones: Counter,
    pub revocations_loaded: Gauge,
    pub in_flight: Gauge,
    pub paused: Family<StageLabel, Gauge>,
    pub pauses: Family<StageLabel, Counter>,
    pub alarms: Counter,
    pub key_reloads: Family<OutcomeOnly, Counter>,
    pub actions: Family<HookOutcome, Counter>,
    pub delivery_failures: Counter,
    pub kafka_errors: Family<StageLabel, Counter>,
    pub assigned_partitions: Family<StageLabel, Gauge>,
    pub ready: Gauge,
    pub max_tokens: Gauge,
    pub untrusted_tokens: Gauge,
    pub watermark_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Records read in spite of something odd, by what (`lossy_utf8`).
    pub ingest_repairs: Family<OutcomeOnly, Counter>,
    pub baseline_snapshots: Counter,
    pub tracked_subjects: Gauge,
}

impl Metrics {
    fn new(reg: &mut Registry) -> Self {
        let m = Metrics {
            events: Family::default(),
            findings: Family::default(),
            dead_letters: Family::default(),
            evictions: Family::default(),
            tracked_tokens: Gauge::default(),
            consumer_lag: Family::default(),
            // 10 ms .. ~2.8 h: replays of old logs land in the top buckets
            alert_latency: Histogram::new([
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 10_000.0,
            ]),
            revocation_requests: Counter::default(),
            tombstones: Counter::default(),
            revocations_loaded: Gauge::default(),
            in_flight: Gauge::default(),
            paused: Family::default(),
            pauses: Family::default(),
            alarms: Counter::default(),
            key_reloads: Family::default(),
            actions: Family::default(),
            delivery_failures: Counter::default(),
            kafka_errors: Family::default(),
            assigned_partitions: Family::default(),
            ready: Gauge::default(),
            max_tokens: Gauge::default(),
            untrusted_tokens: Gauge::default(),
            watermark_lag: Gauge::default(),
            ingest_repairs: Family::default(),
            baseline_snapshots: Counter::default(),
            tracked_subjects: Gauge::default(),
        };
        reg.register(
            "baseline_snapshots",
            "Subject baseline snapshots (and tombstones) written",
            m.baseline_snapshots.clone(),
        );
        reg.register(
            "tracked_subjects",
            "Subjects with a baseline in the engines of this process",
            m.tracked_subjects.clone(),
        );
        reg.register("events", "Records and events handled, by stage and outcome", m.events.clone());
        reg.register("findings", "Findings produced to the alerts topic, by rule", m.findings.clone());
        reg.register("dead_letters", "Records sent to the dead-letter topic, by error kind", m.dead_letters.clone());
        reg.register("state_evictions", "Token states evicted, by cause (ttl, cap)", m.evictions.clone());
        reg.register("tracked_tokens", "Tokens with state in the engines of this process", m.tracked_tokens.clone());
        reg.register(
            "consumer_lag_messages",
            "Records behind the end of the assigned partitions",
            m.consumer_lag.clone(),
        );
        reg.register_with_unit(
            "alert_latency",
            "Event time of the triggering request to the alert being produced",
            Unit::Seconds,
            m.alert_latency.clone(),
        );
        reg.register("revocation_requests", "Revocation requests produced", m.revocation_requests.clone());
        reg.register("revocation_tombstones", "Tombstones produced for expired tokens", m.tombstones.clone());
        reg.register("revocations_loaded", "Entries in the revocation view", m.revocations_loaded.clone());
        reg.register("outputs_in_flight", "Outputs awaiting a delivery report", m.in_flight.clone());
        reg.register("partitions_paused", "1 while input partitions are paused for backpressure", m.paused.clone());
        reg.register("alarms", "Conditions an operator must act on (see the error log)", m.alarms.clone());
        reg.register("key_reloads", "Reloads of the verification keys (JWKS), by outcome", m.key_reloads.clone());
        reg.register(
            "response_actions",
            "Response actions by hook and outcome (delivered, would_revoke, parked, dead_letter...)",
            m.actions.clone(),
        );
        reg.register("pauses", "Times input partitions were paused for backpressure", m.pauses.clone());
        reg.register("delivery_failures", "Outputs whose delivery failed for good", m.delivery_failures.clone());
        reg.register("kafka_errors", "Errors reported by the Kafka client", m.kafka_errors.clone());
        reg.register("assigned_partitions", "Partitions assigned to this process", m.assigned_partitions.clone());
        reg.register(
            "ready",
            "1 when /readyz answers 200 (brokers reachable, partitions assigned, state rebuilt)",
            m.ready.clone(),
        );
        reg.register("max_tokens", "The cap on tokens with state (engine.max_tokens)", m.max_tokens.clone());
        reg.register(
            "untrusted_tokens",
            "Tokens with state in the pool of unverified and forged tokens",
            m.untrusted_tokens.clone(),
        );
        reg.register_with_unit(
            "watermark_lag",
            "Processing time minus the lowest watermark of the detect sessions (how far judging is behind)",
            Unit::Seconds,
            m.watermark_lag.clone(),
        );
        reg.register(
            "ingest_repairs",
            "Records read in spite of something odd, by what (lossy_utf8: bytes that are not UTF-8 read as U+FFFD; bearer_mismatch: a bearer that is not the token whose claims the gateway verified)",
            m.ingest_repairs.clone(),
        );
        m
    }
}

impl Metrics {
    /// Label sets known in advance exist from the start at 0: every series
    /// is there from the first scrape, and a first increase counts in
    /// PromQL's `increase()` (a series born at 1 never does).
    pub fn stage_started(&self, stage: &str) {
        let l = StageLabel::new(stage);
        let _ = self.consumer_lag.get_or_create(&l);
        let _ = self.paused.get_or_create(&l);
        let _ = self.pauses.get_or_create(&l);
        let _ = self.kafka_errors.get_or_create(&l);
        let _ = self.assigned_partitions.get_or_create(&l);
        if stage == "detect" {
            for cause in ["ttl", "cap"] {
                let _ = self.evictions.get_or_create(&CauseLabel { cause: cause.into() });
            }
            for outcome in ["ok", "error"] {
                let _ = self.key_reloads.get_or_create(&OutcomeOnly { outcome: outcome.into() });
            }
        }
    }
}

/// State shared by the stage threads, the delivery callback and the HTTP server.
pub struct Shared {
    pub registry: Registry,
    pub metrics: Metrics,
    pub tracker: Mutex<Tracker>,
    pub broker_up: AtomicBool,
    pub shutdown: AtomicBool,
    pub fatal: Mutex<Option<String>>,
    /// Stages still rebuilding state or without partitions.
    pub not_ready: Mutex<std::collections::BTreeMap<&'static str, String>>,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("tokenhound");
        let metrics = Metrics::new(&mut registry);
        Arc::new(Shared {
            registry,
            metrics,
            tracker: Mutex::new(Tracker::default()),
            broker_up: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            fatal: Mutex::new(None),
            not_ready: Mutex::new(Default::default()),
        })
    }

    /// A record was consumed: track its offset and open the batch of its outputs.
    pub fn consumed(&self, tp: &super::offsets::Tp, offset: i64) -> super::offsets::BatchId {
        let mut t = self.tracker.lock().expect("not poisoned");
        t.consumed(tp, offset);
        t.begin()
    }

    /// Every output of `batch` is produced; `done` are the offsets it completes.
    pub fn close(&self, batch: super::offsets::BatchId, done: impl IntoIterator<Item = (super::offsets::Tp, i64)>) {
        self.tracker.lock().expect("not poisoned").close(batch, done);
    }

    /// librdkafka statistics and errors tell whether any broker is reachable.
    pub fn observe_brokers(&self, any_up: bool) {
        self.broker_up.store(any_up, Ordering::Relaxed);
    }

    pub fn observe_error(&self, e: &rdkafka::error::KafkaError) {
        if e.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::AllBrokersDown) {
            self.broker_up.store(false, Ordering::Relaxed);
        }
    }

    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed) || self.fatal.lock().expect("not poisoned").is_some()
    }

    /// Stop the process with an error (the input offsets not done stay unstored).
    pub fn fatal(&self, why: String) {
        tracing::error!("{why}");
        let mut f = self.fatal.lock().expect("not poisoned");
        if f.is_none() {
            *f = Some(why);
        }
    }

    /// Something an operator must act on; logged at error level and counted.
    pub fn alarm(&self, why: String) {
        self.metrics.alarms.inc();
        tracing::error!(alarm = true, "{why}");
    }

    pub fn set_ready(&self, stage: &'static str, blocker: Option<String>) {
        let mut m = self.not_ready.lock().expect("not poisoned");
        match blocker {
            Some(b) => {
                m.insert(stage, b);
            }
            None => {
                m.remove(stage);
            }
        }
    }

    /// `None` when ready, else why not.
    pub fn readiness(&self) -> Option<String> {
        if !self.broker_up.load(Ordering::Relaxed) {
            return Some("no broker connection".into());
        }
        let m = self.not_ready.lock().expect("not poisoned");
        (!m.is_empty()).then(|| m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "))
    }

    pub fn render(&self) -> String {
        self.metrics.in_flight.set(self.tracker.lock().expect("not poisoned").in_flight() as i64);
        self.metrics.ready.set(self.readiness().is_none() as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// Serve `/metrics`, `/livez`, `/readyz` until `stop` resolves.
pub async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    documents: Vec<(&'static str, serde_json::Value)>,
) -> std::io::Result<()> {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    let s1 = shared.clone();
    let mut app = axum::Router::new();
    for (path, doc) in documents {
        let body = doc.to_string();
        app = app.route(
            path,
            get(move || {
                let b = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], b) }
            }),
        );
    }
    let app = app
        .route(
            "/metrics",
            get(move || {
                let s = s1.clone();
                async move {
                    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.render())
                }
            }),
        )
        .route("/livez", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let s = shared.clone();
                async move {
                    match s.readiness() {
                        None => (StatusCode::OK, "ready\n".to_string()),
                        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
                    }
                }
            }),
        );
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}
