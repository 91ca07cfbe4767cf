//! What the detect stage does with one events partition, without Kafka: a
//! session whose sources are the gateway partitions the events came from,
//! fed events (by position, so repeats are dropped) and watermark records,
//! with sources that went quiet marked idle. The stage wraps it with offsets
//! and outputs; the in-process parity tests drive it directly.

use std::collections::HashMap;
use std::sync::Arc;

use super::wire::Record;
use crate::engine::{EngineConfig, EngineStats, Session, SourceId};
use crate::model::{AccessEvent, EventTime, Finding, RevocationView, SourcePos};
use crate::rules::RuleSet;

pub struct Partition {
    session: Session,
    /// Gateway partitions (`topic/partition`) by source id, and when each
    /// was last heard of (processing time, ms).
    sources: HashMap<String, (SourceId, i64)>,
    /// The last event judged late: its source, its time, the watermark then.
    pub last_late: Option<(String, EventTime, EventTime)>,
    /// Nothing is judged before the first watermark record (it names every
    /// gateway partition upstream reads: before it, a source that has not
    /// sent an event yet could not hold the watermark back).
    marked: bool,
    /// The source name of the event being pushed (reused: no allocation per event).
    name: String,
}

/// The gateway partition an event was read from (written into `name`,
/// cleared first), and its position there (offset, and index in a batch record).
pub fn origin(ev: &AccessEvent, index: u32, name: &mut String) -> u64 {
    use std::fmt::Write;
    name.clear();
    match &ev.source {
        SourcePos::Kafka { topic, partition, offset } => {
            let _ = write!(name, "{topic}/{partition}");
            ((*offset).max(0) as u64) << 20 | u64::from(index & 0xf_ffff)
        }
        other => {
            let _ = write!(name, "{other}");
            u64::from(index)
        }
    }
}

impl Partition {
    /// `wait_for_marks`: the events come from the ingest stage, whose
    /// watermark records say which sources exist (keyed input: they do not).
    pub fn new(rules: Arc<RuleSet>, revocations: Arc<RevocationView>, cfg: EngineConfig, wait_for_marks: bool) -> Self {
        Partition {
            session: Session::new(rules, revocations, cfg),
            sources: HashMap::new(),
            last_late: None,
            marked: !wait_for_marks,
            name: String::new(),
        }
    }

    fn source(&mut self, name: &str, now_ms: i64) -> SourceId {
        if let Some(e) = self.sources.get_mut(name) {
            e.1 = now_ms;
            return e.0;
        }
        let next = self.sources.len() as SourceId;
        self.sources.insert(name.to_string(), (next, now_ms));
        next
    }

    /// One record of the events topic (an event or watermarks), then
    /// whatever the watermark now allows; findings to `out`.
    pub fn record(&mut self, rec: Record, now_ms: i64, out: &mut Vec<Finding>) {
        match rec {
            Record::Event(ev, i) => self.event(ev, i, now_ms, out),
            Record::Pack(evs) => {
                for (ev, i) in evs {
                    self.event(ev, i, now_ms, out);
                }
            }
            Record::Marks(marks) => {
                for (name, wm) in marks {
                    self.watermark(&name, wm, now_ms);
                }
                self.marked = true;
            }
        }
        self.advance(out);
    }

    /// An event (not judged until [`Partition::advance`] or a later record).
    pub fn event(&mut self, ev: AccessEvent, index: u32, now_ms: i64, out: &mut Vec<Finding>) {
        let mut name = std::mem::take(&mut self.name);
        let pos = origin(&ev, index, &mut name);
        if ev.time < self.session.watermark() {
            self.last_late = Some((name.clone(), ev.time, self.session.watermark()));
        }
        let id = self.source(&name, now_ms);
        self.name = name;
        self.session.push_at(id, pos, ev, out);
    }

    /// A gateway partition's watermark.
    pub fn watermark(&mut self, source: &str, wm: EventTime, now_ms: i64) {
        let id = self.source(source, now_ms);
        self.session.source_watermark(id, wm);
    }

    /// Sources not heard of for `idle_ms` stop holding the watermark back
    /// (the caller asks only once it has read everything of this partition).
    pub fn quiet(&mut self, now_ms: i64, idle_ms: i64) {
        for (id, heard) in self.sources.values() {
            if now_ms - heard >= idle_ms {
                self.session.idle(*id);
            }
        }
    }

    pub fn advance(&mut self, out: &mut Vec<Finding>) {
        if self.marked {
            self.session.advance(out);
        }
    }

    pub fn watermark_now(&self) -> EventTime {
        self.session.watermark()
    }

    pub fn set_revocations(&mut self, v: Arc<RevocationView>) {
        self.session.set_revocations(v);
    }

    pub fn stats(&self) -> EngineStats {
        self.session.stats()
    }

    /// The session, for subject snapshots.
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }
}
