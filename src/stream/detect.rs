//! The detect stage: consume events keyed by token (the events topic, or
//! input topics already keyed with `--input-keyed`), one engine session per
//! assigned partition. The sources of a session are the gateway partitions
//! its events come from; their watermarks come from the ingest stage's
//! watermark records (keyed input: from this stage's own clock of the
//! partition). A session judges an event once every source has passed it,
//! so the findings are replay's whatever the read speed of each gateway
//! partition. Repeats of an at-least-once upstream are dropped by position.
//!
//! On assignment the consumer starts back by the maximum token lifetime (see
//! `kafka::Ctx::plan_rebuild`): records before the committed offset rebuild
//! the state silently, later ones are live. Findings become alerts and
//! revocation requests; expired requests are tombstoned.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use super::clock::Clocks;
use super::decode::{decode, Decoded};
use super::feed::Feed;
use super::ingest::{BadRecord, Parsers};
use super::kafka::{consumer_config, wall_ms, Assignment, Ctx};
use super::metrics::{CauseLabel, Outcomes, Shared};
use super::offsets::Tp;
use super::out::{DeadLetter, Outputs};
use super::partition::Partition;
use super::rebuild::RebuildStart;
use super::stage::{self, Handler, TopicNames};
use super::wire::{pack, Record, WireError};
use crate::engine::{EngineConfig, EngineStats};
use crate::ingest::Interner;
use crate::model::{AccessEvent, EventTime, Finding, RevocationView};
use crate::rules::RuleSet;
use crate::settings::StreamSettings;

const STAGE: &str = "detect";
/// Revocation requests remembered per partition for their tombstones.
const MAX_TOMBSTONES: usize = 100_000;

/// How records of the consumed topics become events.
pub enum Decoder {
    /// tokenhound's events topic.
    Wire(Interner),
    /// Gateway records on topics already keyed by token.
    Raw(Parsers),
}

pub struct DetectDeps {
    pub rules: Arc<RuleSet>,
    pub engine: EngineConfig,
    pub exp_margin_secs: i64,
    pub decoder: Decoder,
    pub topics: Vec<String>,
    pub feed: Arc<Feed>,
}

struct Part {
    state: Partition,
    /// The committed offset at assignment: earlier records only rebuild state.
    live_from: i64,
    live: bool,
    start: RebuildStart,
    /// Offsets whose events are still in the session's buffer, by time.
    held: BinaryHeap<Reverse<(EventTime, i64)>>,
    tombstones: BinaryHeap<Reverse<(i64, String)>>,
    reported: EngineStats,
}

struct Detect {
    parts: HashMap<Tp, Part>,
    deps: DetectDeps,
    revs: Arc<RevocationView>,
    feed_version: u64,
    shared: Arc<Shared>,
    out: Arc<Outputs>,
    idle: Duration,
    /// Keyed input: this stage's own clock of each gateway partition.
    clocks: Option<Clocks>,
    /// Partitions of the consumed topics: each session's share of the caps.
    partitions: usize,
    /// Subject baselines across restarts.
    snapshots: super::baselines::Snapshots,
    settings: StreamSettings,
    /// Reused per record: the decoded events, the topic names, the counters.
    events: Vec<(AccessEvent, u32)>,
    topics: TopicNames,
    outcomes: Outcomes,
}

pub fn run(s: StreamSettings, deps: DetectDeps, shared: Arc<Shared>, out: Arc<Outputs>) -> Result<()> {
    deps.feed.wait_ready(&shared);
    let ctx = Ctx::new(shared.clone(), STAGE, Some(s.max_token_lifetime_secs));
    let consumer: BaseConsumer<Ctx> = consumer_config(&s, &format!("{}.detect", s.group), STAGE)
        .create_with_context(ctx)
        .context("cannot create the detect consumer")?;
    let topics: Vec<&str> = deps.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("cannot subscribe to the events topic")?;
    let partitions = super::kafka::partition_count(&consumer, &deps.topics).max(1);
    let (revs, feed_version) = deps.feed.current();
    let keyed = matches!(deps.decoder, Decoder::Raw(_));
    let snapshots = super::baselines::Snapshots::new(&s, &consumer, partitions);
    let mut h = Detect {
        snapshots,
        settings: s.clone(),
        parts: HashMap::new(),
        clocks: keyed.then(|| Clocks::new(deps.engine.allowed_lateness_secs, i64::MAX / 4, s.idle_timeout_ms as i64)),
        deps,
        revs,
        feed_version,
        shared: shared.clone(),
        out: out.clone(),
        idle: Duration::from_millis(s.idle_timeout_ms),
        partitions,
        events: Vec::new(),
        topics: TopicNames::default(),
        outcomes: Outcomes::new(STAGE),
    };
    stage::run(STAGE, &consumer, &shared, &s, &out, &mut h);
    Ok(())
}

impl Detect {
    fn count(&self, outcome: &'static str, n: u64) {
        self.outcomes.add(&self.shared.metrics, outcome, n);
    }

    /// Produce the findings of one session call (live), or only remember
    /// their requests for tombstones (rebuild); then mark `released` done.
    fn emit(&self, part: &mut Part, findings: Vec<Finding>, released: Vec<(Tp, i64)>, live: bool) {
        if !live {
            for f in &findings {
                remember(part, self.out.request_key(f));
            }
            return;
        }
        let batch = self.shared.tracker.lock().expect("not poisoned").begin();
        for f in &findings {
            remember(part, self.out.finding(f, batch));
        }
        self.shared.close(batch, released);
    }

    fn dead_letter(&self, m: &BorrowedMessage<'_>, tp: &Tp, bad: BadRecord, whole: bool) {
        let (kind, error) = (bad.kind(), bad.to_string());
        self.count("bad", 1);
        let batch = if whole {
            self.shared.consumed(tp, m.offset())
        } else {
            // bad records beside good ones: the offset waits for the good
            // events; the dead letter is delivered on its own
            self.shared.tracker.lock().expect("not poisoned").begin()
        };
        // of a pack, only its bad entries: not the other subjects' events
        let only = match (&bad, m.payload()) {
            (BadRecord::Wire(WireError::Pack { spans, .. }), Some(p)) => Some(pack::bad_entries(p, spans)),
            _ => None,
        };
        let framed = matches!(self.deps.decoder, Decoder::Wire(_));
        self.out.dead_letter(DeadLetter::of(STAGE, m, kind, error, only.as_deref()).framed(framed), batch);
        self.shared.close(batch, if whole { vec![(tp.clone(), m.offset())] } else { vec![] });
    }

    fn new_part(&self, a: &Assignment) -> Part {
        let mut cfg = self.deps.engine;
        (cfg.limits, cfg.baselines) = (cfg.limits.share(self.partitions), cfg.baselines.share(self.partitions));
        let mut state = Partition::new(self.deps.rules.clone(), self.revs.clone(), cfg, self.clocks.is_none());
        state.session().track_subject_changes();
        Part {
            state,
            live_from: a.live_from,
            live: a.live,
            start: RebuildStart::new(a.window_from),
            held: BinaryHeap::new(),
            tombstones: BinaryHeap::new(),
            reported: EngineStats::default(),
        }
    }
}

fn remember(part: &mut Part, req: Option<(String, i64)>) {
    if let Some((key, exp)) = req {
        if part.tombstones.len() < MAX_TOMBSTONES && exp != i64::MAX {
            part.tombstones.push(Reverse((exp, key)));
        }
    }
}

/// Pop the offsets whose events the session has judged.
fn released(tp: &Tp, part: &mut Part) -> Vec<(Tp, i64)> {
    let wm = part.state.watermark_now();
    let mut out = Vec::new();
    while let Some(Reverse((t, o))) = part.held.peek() {
        if *t > wm {
            break;
        }
        out.push((tp.clone(), *o));
        part.held.pop();
    }
    out
}

impl Handler for Detect {
    fn message(&mut self, m: &BorrowedMessage<'_>) {
        let tp = self.topics.tp(m.topic(), m.partition());
        let off = m.offset();
        let ts = || m.timestamp().to_millis();
        if self.parts.get_mut(&tp).is_some_and(|p| p.start.skip(!p.live && off < p.live_from, tp.1, off, ts)) {
            self.count("rebuild_skipped", 1);
            return;
        }
        self.events.clear();
        let decoded = decode(&mut self.deps.decoder, m, &mut self.events, &self.shared.metrics);
        let Some(mut part) = self.parts.remove(&tp) else {
            tracing::warn!(topic = m.topic(), partition = m.partition(), "record from a partition not assigned");
            return;
        };
        if off >= part.live_from {
            part.live = true;
        }
        let live = part.live;
        let mut findings = Vec::new();
        let now = wall_ms();
        match decoded {
            Decoded::Marks(marks) => part.state.record(Record::Marks(marks), now, &mut findings),
            Decoded::Events(bad) => {
                if let Some(problem) = bad {
                    if live {
                        self.dead_letter(m, &tp, problem, self.events.is_empty());
                    }
                    if self.events.is_empty() {
                        self.parts.insert(tp, part);
                        return;
                    }
                }
            }
        }
        let n = self.events.len() as u64;
        let latest = self.events.iter().map(|(e, _)| e.time).max();
        for (ev, i) in self.events.drain(..) {
            if let Some(c) = self.clocks.as_mut() {
                c.seen(&tp, ev.time, EventTime(now.saturating_mul(1000)));
            }
            part.state.event(ev, i, now, &mut findings);
        }
        part.state.advance(&mut findings);
        let mut done = Vec::new();
        if live {
            self.shared.tracker.lock().expect("not poisoned").consumed(&tp, off);
            match latest {
                // the record is done once its latest event left the buffer
                Some(t) if t > part.state.watermark_now() => part.held.push(Reverse((t, off))),
                _ => done.push((tp.clone(), off)),
            }
        }
        done.extend(released(&tp, &mut part));
        self.emit(&mut part, findings, done, live);
        self.count(if live { "ok" } else { "rebuild" }, n);
        self.parts.insert(tp, part);
    }

    fn assigned(&mut self, parts: &[Assignment]) {
        for a in parts {
            let mut part = self.new_part(a);
            let saved = self.snapshots.load(&self.settings, a.tp.1);
            part.state.session().restore_subjects(saved);
            if let Some(c) = self.clocks.as_mut() {
                c.assign(&a.tp);
            }
            self.parts.insert(a.tp.clone(), part);
        }
    }

    fn revoked(&mut self, parts: &[Tp]) {
        for tp in parts {
            if let Some(mut p) = self.parts.remove(tp) {
                self.snapshots.flush(tp, p.state.session(), &self.out, wall_ms(), true);
            }
            self.snapshots.forget(tp);
            if let Some(c) = self.clocks.as_mut() {
                c.revoke(tp);
            }
        }
    }

    fn tick(&mut self, consumer: &BaseConsumer<Ctx>) {
        let low = self.parts.values().map(|p| p.state.watermark_now()).min();
        if let Some(low) = low.filter(|w| *w > EventTime::MIN) {
            self.deps.feed.note_watermark(low.as_secs());
            let lag = (wall_ms() - low.as_millis()) as f64 / 1000.0;
            self.shared.metrics.watermark_lag.set(lag.max(0.0));
        }
        if let Some((revs, v)) = self.deps.feed.newer_than(self.feed_version) {
            self.shared.metrics.revocations_loaded.set(revs.len() as i64);
            for p in self.parts.values_mut() {
                p.state.set_revocations(revs.clone());
            }
            (self.revs, self.feed_version) = (revs, v);
        }
        if let Some(c) = self.clocks.as_mut() {
            c.refresh(consumer);
        }
        if self.parts.values().any(|p| !p.live) {
            super::kafka::mark_live(consumer, &mut self.parts, |p| p.live_from, |p| &mut p.live);
        }
        // a source may go quiet only where this stage has read everything:
        // behind a backlog, the gap between watermark records is our own delay
        let idle_ok = super::clock::caught_up(consumer);
        let tps: Vec<Tp> = self.parts.keys().cloned().collect();
        for tp in tps {
            let mut part = self.parts.remove(&tp).expect("present");
            self.housekeep(&tp, &mut part, idle_ok.contains(&tp));
            self.snapshots.flush(&tp, part.state.session(), &self.out, wall_ms(), false);
            self.parts.insert(tp, part);
        }
        let (tracked, untrusted) = self
            .parts
            .values()
            .map(|p| p.state.stats())
            .fold((0, 0), |(a, b), s| (a + s.tracked_tokens, b + s.untrusted_tokens));
        self.shared.metrics.tracked_tokens.set(tracked as i64);
        self.shared.metrics.untrusted_tokens.set(untrusted as i64);
        let subjects: usize = self.parts.values().map(|p| p.state.stats().subjects).sum();
        self.shared.metrics.tracked_subjects.set(subjects as i64);
        self.shared.metrics.max_tokens.set(self.deps.engine.limits.max_tokens as i64);
    }

    fn not_ready(&self) -> Option<String> {
        let n = self.parts.values().filter(|p| !p.live).count();
        (n > 0).then(|| format!("rebuilding state of {n} partition(s)"))
    }
}

impl Detect {
    /// Watermarks that move without records (keyed input's own clock,
    /// sources gone quiet), tombstones and metric deltas for one partition.
    fn housekeep(&mut self, tp: &Tp, part: &mut Part, caught_up: bool) {
        let now = wall_ms();
        if let Some(wm) = self.clocks.as_ref().and_then(|c| c.watermark_of(tp, EventTime(now * 1000))) {
            part.state.watermark(&format!("{}/{}", tp.0, tp.1), wm, now);
        }
        if caught_up {
            part.state.quiet(now, self.idle.as_millis() as i64);
        }
        let mut findings = Vec::new();
        part.state.advance(&mut findings);
        let done = released(tp, part);
        if !findings.is_empty() || !done.is_empty() {
            let live = part.live;
            self.emit(part, findings, done, live);
        }
        if part.live {
            self.tombstones(part);
        }
        let st = part.state.stats();
        let m = &self.shared.metrics;
        let d = |new: u64, old: u64| new.saturating_sub(old);
        m.evictions
            .get_or_create(&CauseLabel { cause: "ttl".into() })
            .inc_by(d(st.evictions.ttl, part.reported.evictions.ttl));
        m.evictions
            .get_or_create(&CauseLabel { cause: "cap".into() })
            .inc_by(d(st.evictions.cap, part.reported.evictions.cap));
        self.count("late", d(st.late, part.reported.late));
        if st.late > part.reported.late {
            if let Some((source, t, wm)) = part.state.last_late.take() {
                tracing::warn!(
                    partition = %format!("{}/{}", tp.0, tp.1),
                    late = st.late - part.reported.late,
                    "events judged late (behind the watermark), e.g. one of {source} at {t} behind {wm}"
                );
            }
        }
        self.count("duplicate", d(st.duplicates, part.reported.duplicates));
        self.count("forced", d(st.forced, part.reported.forced));
        part.reported = st;
    }

    /// Requests whose token expired (by the watermark) can be compacted away.
    fn tombstones(&self, part: &mut Part) {
        let wm = part.state.watermark_now().as_secs().saturating_sub(self.deps.exp_margin_secs);
        let mut due = Vec::new();
        while part.tombstones.peek().is_some_and(|Reverse((exp, _))| *exp < wm) {
            due.push(part.tombstones.pop().expect("peeked").0 .1);
        }
        if !due.is_empty() {
            let batch = self.shared.tracker.lock().expect("not poisoned").begin();
            for key in &due {
                self.out.tombstone(key, batch);
            }
            self.shared.close(batch, []);
        }
    }
}
