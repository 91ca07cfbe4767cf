//! librdkafka clients as tokenhound configures them: consumers that store
//! offsets only when told (auto-commit of stored offsets), an idempotent
//! producer whose delivery reports feed the offset tracker, and the client
//! callbacks that keep metrics and health (statistics, errors, rebalances).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::metrics::Shared;
use super::offsets::Tp;
use crate::settings::StreamSettings;

/// Settings every client shares: brokers, client id, statistics, extras.
pub fn base_config(s: &StreamSettings, client_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &s.brokers)
        .set("client.id", client_id)
        .set("statistics.interval.ms", "1000")
        .set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in s.kafka.iter().map(|(k, v)| (k, v.expose())) {
        c.set(k, v);
    }
    c
}

/// A group consumer: offsets are stored by tokenhound once done, and the
/// stored ones committed in the background and on revocation / close.
pub fn consumer_config(s: &StreamSettings, group: &str, stage: &str) -> ClientConfig {
    let mut c = base_config(s, &format!("tokenhound-{stage}"));
    c.set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // alerts wait for watermark records written every 100 ms: a fetch
        // should not sit on the broker for librdkafka's default 500 ms
        .set("fetch.wait.max.ms", "20")
        .set("auto.offset.reset", s.auto_offset_reset.as_kafka());
    if let Some(id) = &s.instance_id {
        c.set("group.instance.id", format!("{id}.{stage}"));
    }
    for (k, v) in s.kafka.iter().map(|(k, v)| (k, v.expose())) {
        c.set(k, v);
    }
    c
}

/// The idempotent producer: acks=all, no reordering, retried until
/// delivered (a report that never comes keeps the input offset unstored).
pub fn producer_config(s: &StreamSettings) -> ClientConfig {
    let mut c = base_config(s, "tokenhound-producer");
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        // packs are placed by wire::partition_for, records by key: the same
        .set("partitioner", "consistent_random")
        .set("queue.buffering.max.messages", "1000000");
    for (k, v) in s.kafka.iter().map(|(k, v)| (k, v.expose())) {
        c.set(k, v);
    }
    c
}

/// What a rebalance changed, for the stage loop to act on after `poll`.
#[derive(Debug)]
pub enum Change {
    /// Assigned, each with where it goes live.
    Assigned(Vec<Assignment>),
    Revoked(Vec<Tp>),
}

/// One assigned partition. Records before `live_from` only rebuild state.
#[derive(Debug)]
pub struct Assignment {
    pub tp: Tp,
    /// The committed offset (0 without one).
    pub live_from: i64,
    /// Nothing to rebuild: live at once.
    pub live: bool,
    /// Wall time (ms) the rebuild window starts at: records produced before
    /// it are older than the window, whatever offset the broker named (tansu
    /// 0.6 answers a time past a partition's last record with offset 0).
    pub window_from: Option<i64>,
}

/// librdkafka's statistics, the fields read (a decode error is logged).
fn parse_stats(raw: &[u8]) -> Option<super::kstats::Stats> {
    super::kstats::Stats::parse(raw).map_err(|e| tracing::warn!(error = %e, "kafka statistics unreadable")).ok()
}

/// The client context of every tokenhound consumer and producer.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub stage: &'static str,
    /// Seek back by this much on assignment to rebuild state (detect only).
    pub rebuild_secs: Option<i64>,
    pub changes: Mutex<Vec<Change>>,
    changed: std::sync::atomic::AtomicBool,
}

impl Ctx {
    pub fn new(shared: Arc<Shared>, stage: &'static str, rebuild_secs: Option<i64>) -> Self {
        Ctx { shared, stage, rebuild_secs, changes: Mutex::new(Vec::new()), changed: Default::default() }
    }

    pub fn has_changes(&self) -> bool {
        self.changed.load(Ordering::Acquire)
    }

    pub fn take_changes(&self) -> Vec<Change> {
        self.changed.store(false, Ordering::Release);
        std::mem::take(&mut *self.changes.lock().expect("not poisoned"))
    }
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(stage = self.stage, facility = fac, "kafka: {msg}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(stage = self.stage, facility = fac, "kafka: {msg}"),
            _ => tracing::debug!(stage = self.stage, facility = fac, "kafka: {msg}"),
        }
    }

    fn stats_raw(&self, raw: &[u8]) {
        let Some(st) = parse_stats(raw) else { return };
        self.shared.observe_brokers(st.any_broker_up());
        if st.client_type == "consumer" {
            let lag = st.consumer_lag();
            self.shared.metrics.consumer_lag.get_or_create(&super::metrics::StageLabel::new(self.stage)).set(lag);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.observe_error(&error);
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) {
            self.shared
                .alarm(format!("{} stage: no committed offset and auto_offset_reset = error: {reason}", self.stage));
        }
        self.shared.metrics.kafka_errors.get_or_create(&super::metrics::StageLabel::new(self.stage)).inc();
        tracing::warn!(stage = self.stage, error = %error, "kafka client error: {reason}");
    }
}

impl ConsumerContext for Ctx {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let live = self.plan_rebuild(consumer, tpl);
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(stage = self.stage, "assign failed: {e}");
                }
                tracing::info!(stage = self.stage, partitions = live.len(), "partitions assigned");
                self.push(Change::Assigned(live));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tps = tps(tpl);
                tracing::info!(stage = self.stage, partitions = tps.len(), "partitions revoked");
                // store and commit what is done now, before another member
                // takes the partitions over
                super::stage::store_done(consumer, &self.shared, &tps);
                if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
                    tracing::debug!(stage = self.stage, "commit on revoke: {e}");
                }
                self.push(Change::Revoked(tps));
                let _ = consumer.unassign();
            }
            _ => {
                let e: RDKafkaErrorCode = err.into();
                tracing::error!(stage = self.stage, "rebalance error: {e}");
                let _ = consumer.unassign();
            }
        }
    }
}

impl Ctx {
    fn push(&self, c: Change) {
        self.changes.lock().expect("not poisoned").push(c);
        self.changed.store(true, Ordering::Release);
    }

    /// For each assigned partition: start at `min(committed, first record
    /// produced within the rebuild window)`; records before the committed
    /// offset rebuild state silently.
    fn plan_rebuild(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) -> Vec<Assignment> {
        let timeout = Duration::from_secs(10);
        let committed = consumer.committed_offsets(tpl.clone(), timeout).unwrap_or_else(|_| tpl.clone());
        let since = self.rebuild_secs.map(|secs| wall_ms() - secs * 1000);
        let starts = since.and_then(|since| {
            let mut q = TopicPartitionList::new();
            for e in tpl.elements() {
                let _ = q.add_partition_offset(e.topic(), e.partition(), Offset::Offset(since));
            }
            consumer.offsets_for_times(q, timeout).ok()
        });
        let mut live = Vec::new();
        for e in committed.elements() {
            let tp: Tp = (Arc::from(e.topic()), e.partition());
            let c = match e.offset() {
                Offset::Offset(c) => Some(c),
                _ => None,
            };
            let s = starts.as_ref().and_then(|s| s.find_partition(e.topic(), e.partition())).and_then(|x| {
                match x.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                }
            });
            let start = match (c, s) {
                (Some(c), Some(s)) => Some(c.min(s)),
                (Some(c), None) => Some(c),
                (None, _) => None,
            };
            if let Some(start) = start {
                let _ = tpl.set_partition_offset(e.topic(), e.partition(), Offset::Offset(start));
            }
            let live_from = c.unwrap_or(0);
            let now = start.is_none_or(|s| s >= live_from);
            live.push(Assignment { tp, live_from, live: now, window_from: since.filter(|_| !now) });
        }
        live
    }
}

fn tps(tpl: &TopicPartitionList) -> Vec<Tp> {
    tpl.elements().iter().map(|e| (Arc::from(e.topic()), e.partition())).collect()
}

pub use crate::respond::wall_ms;

/// The producer's context: delivery reports complete batches in the tracker.
pub struct ProducerCtx {
    pub shared: Arc<Shared>,
}

impl ClientContext for ProducerCtx {
    fn stats_raw(&self, raw: &[u8]) {
        if let Some(st) = parse_stats(raw) {
            self.shared.observe_brokers(st.any_broker_up());
        }
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.observe_error(&error);
        tracing::warn!(error = %error, "kafka producer error: {reason}");
    }
}

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = usize;

    fn delivery(&self, r: &DeliveryResult<'_>, opaque: usize) {
        let (batch, weight) = super::offsets::from_opaque(opaque);
        match r {
            Ok(_) => self.shared.tracker.lock().expect("not poisoned").delivered(batch, weight),
            Err((e, m)) => {
                use rdkafka::Message;
                self.shared.metrics.delivery_failures.inc();
                self.shared.fatal(format!("delivery to {} failed: {e}", m.topic()));
            }
        }
    }
}

/// The partitions of the consumed topics, for the share of the caps.
pub fn partition_count(consumer: &BaseConsumer<Ctx>, topics: &[String]) -> usize {
    topics
        .iter()
        .filter_map(|t| consumer.fetch_metadata(Some(t), Duration::from_secs(5)).ok())
        .map(|md| md.topics().iter().map(|t| t.partitions().len()).sum::<usize>())
        .sum()
}

/// Partitions whose consumer position reached their live-from offset are
/// live (the rebuild before it is over).
pub fn mark_live<P>(
    consumer: &BaseConsumer<Ctx>,
    parts: &mut std::collections::HashMap<Tp, P>,
    live_from: impl Fn(&P) -> i64,
    live: impl Fn(&mut P) -> &mut bool,
) {
    if let Ok(pos) = consumer.position() {
        for e in pos.elements() {
            if let (Some(p), Offset::Offset(o)) = (parts.get_mut(&(Arc::from(e.topic()), e.partition())), e.offset()) {
                let from = live_from(p);
                *live(p) |= o >= from;
            }
        }
    }
}

/// A record read back by [`read_to_end`].
pub struct Stored {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    /// `None`: a tombstone.
    pub payload: Option<Vec<u8>>,
}

/// Every record of `topic` (or of its partition `only`) from its start to
/// its end as of now, in (partition, offset) order, without a group offset:
/// state read back at start (baseline snapshots, parked requests).
pub fn read_to_end(s: &StreamSettings, client: &str, topic: &str, only: Option<i32>) -> Result<Vec<Stored>, String> {
    let err = |e: rdkafka::error::KafkaError| e.to_string();
    let mut cfg = base_config(s, &format!("tokenhound-{client}"));
    cfg.set("group.id", format!("{}.{client}-reader", s.group)).set("enable.auto.commit", "false");
    let c: BaseConsumer = cfg.create().map_err(err)?;
    let parts: Vec<i32> = match only {
        Some(p) => vec![p],
        None => {
            let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(err)?;
            md.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect()
        }
    };
    let (mut tpl, mut ends) = (TopicPartitionList::new(), std::collections::BTreeMap::new());
    for p in parts {
        let (lo, hi) = c.fetch_watermarks(topic, p, Duration::from_secs(10)).map_err(err)?;
        if hi > lo {
            tpl.add_partition_offset(topic, p, Offset::Offset(lo)).map_err(err)?;
            ends.insert(p, hi);
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    c.assign(&tpl).map_err(err)?;
    let deadline = wall_ms() + 60_000;
    while !ends.is_empty() {
        if wall_ms() > deadline {
            return Err(format!("timed out reading {topic}"));
        }
        let Some(m) = c.poll(Duration::from_millis(200)) else { continue };
        let m = m.map_err(err)?;
        if ends.get(&m.partition()).is_some_and(|hi| m.offset() + 1 >= *hi) {
            ends.remove(&m.partition());
        }
        let key = m.key().unwrap_or_default().to_vec();
        out.push(Stored {
            partition: m.partition(),
            offset: m.offset(),
            key,
            payload: m.payload().map(<[u8]>::to_vec),
        });
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}
