//! Subject baselines across restarts: they outlive the token lifetime the
//! events-topic rebuild covers, so each detect session writes snapshots of
//! the subjects that changed (coalesced: at most one per subject a second)
//! to a compacted topic keyed by subject and partitioned like the events
//! topic (partition p holds the subjects of events partition p), and reads
//! its partition back when an events partition is assigned. A snapshot
//! names the latest event folded into it; a rebuild that reads older events
//! again does not fold them twice, so a restarted stream gives the alerts of
//! an uninterrupted one. Subjects that expire are tombstoned.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;

use super::kafka::Ctx;
use super::offsets::{BatchId, Tp};
use super::out::Outputs;
use crate::engine::subjects::{Subject, SubjectId};
use crate::engine::Session;
use crate::settings::StreamSettings;

/// How often a partition's changed subjects are written.
const EVERY_MS: i64 = 1000;

pub struct Snapshots {
    topic: String,
    /// Off when the topic is missing or has fewer partitions than the events topic.
    enabled: bool,
    last: HashMap<Tp, i64>,
    /// Changes waiting for the outputs of the events they fold in: a
    /// snapshot is written only once every output batch opened before it
    /// was taken is delivered (else a crash could keep the snapshot and lose
    /// the alert, and the restarted stream, which does not fold those events
    /// again, would not raise it again). Latest state per subject.
    pending: HashMap<Tp, BTreeMap<SubjectId, (BatchId, Option<Subject>)>>,
}

/// A subject's record key (the events topic's key for its tokens).
pub fn key((iss, sub): &SubjectId) -> String {
    let mut k = String::new();
    super::wire::push_subject_key(iss, sub, &mut k);
    k
}

impl Snapshots {
    /// Check the topic: it must exist with at least `partitions` partitions.
    pub fn new(s: &StreamSettings, consumer: &BaseConsumer<Ctx>, partitions: usize) -> Self {
        let topic = s.baselines_topic.clone();
        let found = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .ok()
            .and_then(|md| md.topics().first().filter(|t| t.error().is_none()).map(|t| t.partitions().len()))
            .unwrap_or(0);
        let enabled = found >= partitions && found > 0;
        if !enabled {
            tracing::warn!(
                topic = %topic,
                partitions = found,
                needed = partitions,
                "subject baselines are not kept across restarts: create this topic (compacted, as many partitions as the events topic)"
            );
        }
        Snapshots { topic, enabled, last: HashMap::new(), pending: HashMap::new() }
    }

    /// The saved subjects of events partition `partition` (empty when off).
    pub fn load(&self, s: &StreamSettings, partition: i32) -> Vec<(SubjectId, Subject)> {
        if !self.enabled {
            return Vec::new();
        }
        match read_partition(s, &self.topic, partition) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(topic = %self.topic, partition, "cannot read subject baselines: {e}");
                Vec::new()
            }
        }
    }

    /// Write what changed in `session` (at most every second per partition).
    pub fn flush(&mut self, tp: &Tp, session: &mut Session, out: &Outputs, now_ms: i64, force: bool) {
        if !self.enabled {
            return;
        }
        let last = self.last.entry(tp.clone()).or_insert(0);
        if !force && now_ms - *last < EVERY_MS {
            return;
        }
        *last = now_ms;
        let (changed, gone) = session.take_subject_changes();
        let pending = self.pending.entry(tp.clone()).or_default();
        let b = out.shared.tracker.lock().expect("not poisoned").last_batch();
        for (id, subject) in changed {
            pending.insert(id, (b, Some(subject)));
        }
        for id in gone {
            pending.insert(id, (b, None));
        }
        let ready: Vec<SubjectId> = {
            let t = out.shared.tracker.lock().expect("not poisoned");
            pending.iter().filter(|(_, (b, _))| t.done_through(*b)).map(|(id, _)| id.clone()).collect()
        };
        for id in &ready {
            let Some((_, subject)) = pending.remove(id) else { continue };
            let body = subject.map(|s| json!({ "iss": &*id.0, "sub": &*id.1, "baseline": s }).to_string());
            out.snapshot(&self.topic, tp.1, key(id).as_bytes(), body.as_deref().map(str::as_bytes));
        }
        if !ready.is_empty() {
            out.shared.metrics.baseline_snapshots.inc_by(ready.len() as u64);
        }
    }

    pub fn forget(&mut self, tp: &Tp) {
        self.last.remove(tp);
        self.pending.remove(tp);
    }
}

/// Read one partition of the snapshot topic: the latest record per key.
fn read_partition(s: &StreamSettings, topic: &str, partition: i32) -> Result<Vec<(SubjectId, Subject)>, String> {
    let mut latest: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
    for r in super::kafka::read_to_end(s, "baselines", topic, Some(partition))? {
        latest.insert(r.key, r.payload);
    }
    let mut out = Vec::new();
    for (k, v) in latest {
        let Some(v) = v else { continue };
        let parsed = serde_json::from_slice::<serde_json::Value>(&v).ok().and_then(|j| {
            let id: SubjectId = (j["iss"].as_str()?.into(), j["sub"].as_str()?.into());
            // a record under another subject's key is not that subject's
            if key(&id).as_bytes() != k.as_slice() {
                return None;
            }
            let s: Subject = serde_json::from_value(j["baseline"].clone()).ok()?;
            Some((id, s))
        });
        match parsed {
            Some(x) => out.push(x),
            None => {
                tracing::warn!(topic, partition, key = %String::from_utf8_lossy(&k), "unreadable baseline snapshot skipped")
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
