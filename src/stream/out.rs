//! Everything tokenhound produces to Kafka: normalized events (keyed by
//! token), OCSF alerts (keyed by token id), revocation requests (compacted,
//! keyed by `iss|jti`, tombstoned after expiry) and dead letters (headers
//! name the source record and the error). Each output joins a batch of the
//! offset tracker, so its input offset waits for its delivery report.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use super::kafka::{wall_ms, ProducerCtx};
use super::metrics::{KindLabels, RuleLabel, Shared};
use super::offsets::BatchId;
use crate::model::Finding;
use crate::output::{ocsf_bytes, revocation_request};
use crate::settings::StreamSettings;

/// The batch of outputs no input waits for (the tracker knows no such batch).
const UNTRACKED: BatchId = 0;

/// At most this much of a bad record is kept in its dead letter (scrubbed of tokens).
pub const DEAD_LETTER_MAX_BYTES: usize = 64 * 1024;

pub struct Outputs {
    pub producer: ThreadedProducer<ProducerCtx>,
    pub shared: Arc<Shared>,
    pub events_topic: String,
    pub alerts_topic: String,
    pub requests_topic: String,
    pub dead_letter_topic: String,
}

/// Where a bad record came from and why it was refused.
pub struct DeadLetter<'a> {
    pub stage: &'static str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub kind: &'static str,
    pub error: String,
    pub payload: Option<&'a [u8]>,
    /// The source record's size (`payload` may be only its bad part).
    pub original: usize,
    /// The hook that gave up (responder).
    pub hook: Option<&'static str>,
    /// A framed binary record (the events topic): redactions keep lengths.
    framed: bool,
}

impl<'a> DeadLetter<'a> {
    /// The record `m` refused by `stage`; its payload unless another is given.
    pub fn of(
        stage: &'static str,
        m: &'a rdkafka::message::BorrowedMessage<'a>,
        kind: &'static str,
        error: String,
        payload: Option<&'a [u8]>,
    ) -> Self {
        use rdkafka::Message;
        let original = m.payload().map_or(0, <[u8]>::len);
        let payload = payload.or_else(|| m.payload());
        DeadLetter {
            stage,
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            kind,
            error,
            payload,
            original,
            hook: None,
            framed: false,
        }
    }

    /// The same, marked as a framed binary record or not.
    pub fn framed(self, framed: bool) -> Self {
        DeadLetter { framed, ..self }
    }
}

/// A finding's revocation request with its compaction key and the token's expiry.
fn request(f: &Finding) -> Option<((String, i64), serde_json::Value)> {
    let r = revocation_request(f)?;
    let key = r.get("key")?.as_str()?.to_string();
    Some(((key, f.token.exp.unwrap_or(i64::MAX)), r))
}

impl Outputs {
    pub fn new(s: &StreamSettings, producer: ThreadedProducer<ProducerCtx>, shared: Arc<Shared>) -> Self {
        Outputs {
            producer,
            shared,
            events_topic: s.events_topic.clone(),
            alerts_topic: s.alerts_topic.clone(),
            requests_topic: s.requests_topic.clone(),
            dead_letter_topic: s.dead_letter_topic.clone(),
        }
    }

    /// Produce one record as part of `batch`; waits (briefly, counted) only
    /// if librdkafka's queue is full, which the pause threshold should prevent.
    pub fn send(&self, topic: &str, key: &[u8], payload: Option<&[u8]>, headers: Option<OwnedHeaders>, batch: BatchId) {
        self.send_to(topic, None, key, payload, headers, batch);
    }

    /// [`Outputs::send`] to a given partition (`None`: by key).
    pub fn send_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
        batch: BatchId,
    ) {
        self.send_weighted(topic, partition, key, payload, headers, batch, 1);
    }

    /// [`Outputs::send_to`] of a record holding `weight` events.
    #[allow(clippy::too_many_arguments)]
    fn send_weighted(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
        batch: BatchId,
        weight: usize,
    ) {
        let weight = super::offsets::clamp_weight(weight);
        if batch != UNTRACKED {
            self.shared.tracker.lock().expect("not poisoned").add_output(batch, weight);
        }
        let mut rec = BaseRecord::with_opaque_to(topic, super::offsets::opaque(batch, weight)).key(key);
        if let Some(p) = partition {
            rec = rec.partition(p);
        }
        if let Some(p) = payload {
            rec = rec.payload(p);
        }
        if let Some(h) = headers {
            rec = rec.headers(h);
        }
        loop {
            match self.producer.send(rec) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    self.shared.fatal(format!("cannot produce to {topic}: {e}"));
                    return;
                }
            }
        }
    }

    pub fn event(&self, key: &str, payload: &[u8], batch: BatchId) {
        self.send(&self.events_topic, key.as_bytes(), Some(payload), None, batch);
    }

    /// A pack of `events` events to one events partition (version 3; no key:
    /// its events have theirs inside).
    pub fn pack(&self, partition: i32, payload: &[u8], events: usize, batch: BatchId) {
        self.send_weighted(&self.events_topic, Some(partition), b"", Some(payload), None, batch, events);
    }

    /// A watermark record to one events partition. Not tracked: no input
    /// offset waits for it, and it does not count against the in-flight
    /// budget (a lost one is superseded by the next, 100 ms later).
    pub fn marks(&self, partition: i32, payload: &[u8]) {
        self.send_to(&self.events_topic, Some(partition), b"", Some(payload), None, UNTRACKED);
    }

    /// The alert, and the revocation request when the rule asks for one.
    /// Returns the request's key and the token's `exp` (for the tombstone).
    pub fn finding(&self, f: &Finding, batch: BatchId) -> Option<(String, i64)> {
        let key = f.token.id.display_id();
        let alert = ocsf_bytes(f, crate::model::VERSION);
        self.send(&self.alerts_topic, key.as_bytes(), Some(&alert), None, batch);
        let m = &self.shared.metrics;
        m.findings.get_or_create(&RuleLabel { rule: f.rule_id.to_string() }).inc();
        m.alert_latency.observe(((wall_ms() - f.time.as_millis()) as f64 / 1000.0).max(0.0));
        let (req, body) = request(f)?;
        self.send(&self.requests_topic, req.0.as_bytes(), Some(body.to_string().as_bytes()), None, batch);
        m.revocation_requests.inc();
        Some(req)
    }

    /// The compaction key and expiry of a finding's revocation request.
    pub fn request_key(&self, f: &Finding) -> Option<(String, i64)> {
        request(f).map(|(k, _)| k)
    }

    /// A subject baseline snapshot (a tombstone without body) to a given
    /// partition of the snapshot topic. Not tracked: no input offset waits
    /// for it (a lost one is superseded by the next, and the rebuild covers
    /// the gap).
    pub fn snapshot(&self, topic: &str, partition: i32, key: &[u8], body: Option<&[u8]>) {
        self.send_to(topic, Some(partition), key, body, None, UNTRACKED);
    }

    /// The token expired: its request can be compacted away.
    pub fn tombstone(&self, key: &str, batch: BatchId) {
        self.send(&self.requests_topic, key.as_bytes(), None, None, batch);
        self.shared.metrics.tombstones.inc();
    }

    pub fn dead_letter(&self, d: DeadLetter<'_>, batch: BatchId) {
        // the record's bytes as they came (text or not), but for its tokens
        let scrub = if d.framed { crate::ingest::scrub_framed } else { crate::ingest::scrub_bytes };
        let value = d.payload.map(|p| scrub(&p[..p.len().min(DEAD_LETTER_MAX_BYTES)]));
        let (partition, offset) = (d.partition.to_string(), d.offset.to_string());
        let len = d.original.to_string();
        let error = crate::ingest::scrub(&d.error);
        let mut h = OwnedHeaders::new()
            .insert(Header { key: "tokenhound-source-topic", value: Some(d.topic) })
            .insert(Header { key: "tokenhound-source-partition", value: Some(&partition) })
            .insert(Header { key: "tokenhound-source-offset", value: Some(&offset) })
            .insert(Header { key: "tokenhound-error-kind", value: Some(d.kind) })
            .insert(Header { key: "tokenhound-error", value: Some(&error) })
            .insert(Header { key: "tokenhound-stage", value: Some(d.stage) })
            .insert(Header { key: "tokenhound-original-bytes", value: Some(&len) });
        if let Some(hook) = d.hook {
            h = h.insert(Header { key: "tokenhound-hook", value: Some(hook) });
        }
        let key = format!("{}/{}@{}", d.topic, d.partition, d.offset);
        self.send(&self.dead_letter_topic, key.as_bytes(), value.as_deref(), Some(h), batch);
        let labels = KindLabels { stage: d.stage.to_string(), kind: d.kind.to_string() };
        self.shared.metrics.dead_letters.get_or_create(&labels).inc();
        tracing::warn!(
            stage = d.stage,
            hook = d.hook.unwrap_or(""),
            topic = d.topic,
            partition = d.partition,
            offset = d.offset,
            kind = d.kind,
            "record sent to the dead-letter topic: {error}"
        );
    }

    /// Wait for every delivery report, up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let _ = self.producer.flush(timeout);
        self.producer.in_flight_count() == 0
    }
}
