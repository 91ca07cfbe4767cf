//! The engine session: the one way every driver (replay's shards, the
//! stream's partitions, investigate, the rule self-tests) feeds the engine.
//! It owns the reorder buffer, the watermark, the caps and the dedup, and
//! gives "idle" and "end of input" one meaning each.
//!
//! Event time across partitioned input (Flink's per-partition watermarks,
//! MillWheel's low watermark): events come from sources (a file, a gateway
//! partition). A source's watermark is the newest event time read from it
//! minus the allowed lateness, or one given from upstream (the stream's
//! control records), whichever is later. The session's watermark is the
//! minimum over its sources that have not ended, and never goes back; an
//! event is judged once the watermark passes it, in (time, content) order.
//! So a slow source holds the others back instead of letting its events
//! arrive late, and the findings depend on the set of records, not on the
//! partitioning or the read order. A source with nothing to read is not a
//! reason to wait: its driver says so by advancing its watermark (the
//! stream does, with processing time, once a partition is caught up) or by
//! ending it (replay, at the end of a file).
//!
//! Pure: no clock, no I/O. Releases happen only in [`Session::advance`] and
//! [`Session::finish`], so drivers that call them at the same points of the
//! input get the same findings whatever their threading.

use std::sync::Arc;

use super::reorder::Reorder;
use super::subjects::{Subject, SubjectId};
use super::{Engine, EngineConfig, EngineStats, RevocationView};
use crate::model::{AccessEvent, EventTime, Finding};
use crate::rules::RuleSet;

/// A source of events, numbered by the driver.
pub type SourceId = u32;

#[derive(Clone, Copy, Debug)]
struct Source {
    /// The newest event time read from this source.
    seen: EventTime,
    /// A watermark given from upstream.
    given: EventTime,
    ended: bool,
    /// Said nothing for a while (its driver decides): does not hold the
    /// watermark back until it does again.
    idle: bool,
    /// The position of the last event taken (stream: offset and record),
    /// to drop repeats of an at-least-once upstream.
    last: Option<u64>,
}

impl Source {
    fn new() -> Self {
        Source { seen: EventTime::MIN, given: EventTime::MIN, ended: false, idle: false, last: None }
    }
}

/// What a session counts besides the engine (also in [`EngineStats`]).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct SessionStats {
    pub sources: usize,
    pub watermark: Option<EventTime>,
}

pub struct Session {
    engine: Engine,
    buffer: Reorder,
    sources: Vec<Source>,
    watermark: EventTime,
    lateness_secs: i64,
    max_buffered: usize,
    late: u64,
    forced: u64,
    duplicates: u64,
    /// Events taken (released, late or forced), and without a token.
    taken: u64,
}

impl Session {
    pub fn new(rules: Arc<RuleSet>, revocations: Arc<RevocationView>, cfg: EngineConfig) -> Self {
        Session {
            engine: Engine::new(rules, revocations, cfg),
            buffer: Reorder::default(),
            sources: Vec::new(),
            watermark: EventTime::MIN,
            lateness_secs: cfg.allowed_lateness_secs,
            max_buffered: cfg.max_buffered.max(1),
            late: 0,
            forced: 0,
            duplicates: 0,
            taken: 0,
        }
    }

    /// Replace the revocation view (stream: the feed updated it).
    pub fn set_revocations(&mut self, v: Arc<RevocationView>) {
        self.engine.set_revocations(v);
    }

    /// The watermark: every event at or before it has been judged.
    pub fn watermark(&self) -> EventTime {
        self.watermark
    }

    fn source(&mut self, id: SourceId) -> &mut Source {
        let i = id as usize;
        if self.sources.len() <= i {
            self.sources.resize(i + 1, Source::new());
        }
        &mut self.sources[i]
    }

    /// Make a source known before it has sent anything: it holds the
    /// watermark back until it reports progress (a file not yet read, a
    /// partition just assigned).
    pub fn open_source(&mut self, id: SourceId) {
        self.source(id);
    }

    /// An event read from `source`. Behind the watermark it is late: judged
    /// at once (counted); otherwise it waits for the watermark.
    pub fn push(&mut self, source: SourceId, ev: AccessEvent, out: &mut Vec<Finding>) {
        let s = self.source(source);
        s.seen = s.seen.max(ev.time);
        s.idle = false;
        self.take(ev, out);
    }

    /// An event with its position in its source (increasing): a position
    /// not after the last one taken is a repeat (an at-least-once upstream
    /// sent it again) and is dropped.
    pub fn push_at(&mut self, source: SourceId, pos: u64, ev: AccessEvent, out: &mut Vec<Finding>) {
        let s = self.source(source);
        if s.last.is_some_and(|l| pos <= l) {
            self.duplicates += 1;
            return;
        }
        s.last = Some(pos);
        s.seen = s.seen.max(ev.time);
        s.idle = false;
        self.take(ev, out);
    }

    fn take(&mut self, ev: AccessEvent, out: &mut Vec<Finding>) {
        self.taken += 1;
        if ev.time < self.watermark {
            self.late += 1;
            self.engine.process(ev, out);
        } else {
            self.buffer.push(ev);
        }
    }

    /// The newest event time read from `source` so far, over every shard
    /// (a shard sees only its tokens' events; the driver sees them all).
    pub fn seen(&mut self, source: SourceId, t: EventTime) {
        let s = self.source(source);
        s.seen = s.seen.max(t);
    }

    /// A watermark for `source` from upstream: nothing earlier will come.
    pub fn source_watermark(&mut self, source: SourceId, wm: EventTime) {
        let s = self.source(source);
        s.given = s.given.max(wm);
        s.idle = false;
    }

    /// `source` has said nothing for a while (an upstream that is gone): it
    /// no longer holds the watermark back, until it says something again.
    /// With every source idle the watermark stays where it is.
    pub fn idle(&mut self, source: SourceId) {
        self.source(source).idle = true;
    }

    /// `source` will send nothing more (end of a file, a partition gone).
    pub fn end_source(&mut self, source: SourceId) {
        self.source(source).ended = true;
    }

    /// The watermark the sources allow (never behind the current one).
    fn allowed(&self) -> EventTime {
        let l = self.lateness_secs;
        let open = self.sources.iter().filter(|s| !s.ended && !s.idle);
        match open.map(|s| s.given.max(s.seen.minus_secs(l))).min() {
            Some(w) => w.max(self.watermark),
            // every source ended: nothing can arrive any more
            None if !self.sources.is_empty() && self.sources.iter().all(|s| s.ended) => EventTime::MAX,
            None => self.watermark,
        }
    }

    /// Judge what the watermark allows; state past its deadline expires.
    /// Over `max_buffered`, the earliest are judged anyway (counted as
    /// forced), moving the watermark to them.
    pub fn advance(&mut self, out: &mut Vec<Finding>) {
        let wm = self.allowed();
        self.release(wm, out);
        while self.buffer.len() > self.max_buffered {
            let Some(t) = self.buffer.earliest() else { break };
            let before = self.buffer.len();
            self.release(t, out);
            self.forced += (before - self.buffer.len()) as u64;
        }
    }

    fn release(&mut self, wm: EventTime, out: &mut Vec<Finding>) {
        if wm <= self.watermark && wm != EventTime::MAX {
            return;
        }
        while let Some(ev) = self.buffer.pop_until(wm) {
            self.prefetch();
            self.engine.process(ev, out);
        }
        self.watermark = self.watermark.max(wm);
        if wm != EventTime::MAX {
            self.engine.expire(wm);
        }
    }

    /// Ask for what the events soon judged will read (see `prefetch.rs`).
    #[inline]
    fn prefetch(&self) {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        use super::prefetch::AHEAD;
        if let Some(e) = self.buffer.ahead(3 * AHEAD) {
            self.engine.fetch_token(e);
        }
        if let Some(e) = self.buffer.ahead(2 * AHEAD) {
            self.engine.fetch_state(e);
        }
        if let Some(e) = self.buffer.ahead(AHEAD) {
            self.engine.fetch_subject(e);
        }
    }

    /// End of input: judge everything still buffered, in order. State is
    /// kept (it expires on watermarks only).
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        while let Some(ev) = self.buffer.pop_until(EventTime::MAX) {
            self.engine.process(ev, out);
        }
    }

    pub fn stats(&self) -> EngineStats {
        let mut s = self.engine.stats();
        s.events = self.taken;
        s.late = self.late;
        s.forced = self.forced;
        s.duplicates = self.duplicates;
        s.buffered = self.buffer.len();
        s
    }

    /// Put saved subject baselines back (a baseline file, a snapshot topic).
    pub fn restore_subjects(&mut self, saved: impl IntoIterator<Item = (SubjectId, Subject)>) {
        for (id, s) in saved {
            self.engine.subjects.restore(id, s);
        }
    }

    /// Keep track of changed subjects for [`Session::take_subject_changes`].
    pub fn track_subject_changes(&mut self) {
        self.engine.subjects.track_changes();
    }

    /// The subjects changed since the last call, and those dropped.
    pub fn take_subject_changes(&mut self) -> (Vec<(SubjectId, Subject)>, Vec<SubjectId>) {
        self.engine.subjects.take_changes()
    }

    /// Every subject baseline this session holds, sorted by subject.
    pub fn subjects(&self) -> Vec<(SubjectId, Subject)> {
        self.engine.subjects.snapshot().into_iter().map(|(k, s)| (k.clone(), s.clone())).collect()
    }

    pub fn session_stats(&self) -> SessionStats {
        SessionStats {
            sources: self.sources.len(),
            watermark: (self.watermark > EventTime::MIN).then_some(self.watermark),
        }
    }
}
