//! The detect stage: consume events keyed by token (the events topic, or
//! input topics already keyed with `--input-keyed`), one engine per assigned
//! partition. On assignment the consumer starts back by the maximum token
//! lifetime (see `kafka::Ctx::plan_rebuild`): records before the committed
//! offset rebuild the state silently, later ones are live. Findings become
//! alerts and revocation requests; expired requests are tombstoned.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset};

use super::feed::Feed;
use super::ingest::Parsers;
use super::kafka::{consumer_config, Ctx};
use super::metrics::{CauseLabel, OutcomeLabels, Shared};
use super::offsets::Tp;
use super::out::{DeadLetter, Outputs};
use super::stage::{self, Handler};
use super::wire;
use crate::engine::{Engine, EngineConfig, EngineStats, RevocationView};
use crate::ingest::Interner;
use crate::model::{AccessEvent, EventTime, Finding};
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
    engine: Engine,
    /// The committed offset at assignment: earlier records only rebuild state.
    live_from: i64,
    live: bool,
    /// Offsets whose events are still in the engine's reorder buffer, by time.
    held: BinaryHeap<Reverse<(EventTime, i64)>>,
    last_event: Instant,
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
    events: Vec<AccessEvent>,
}

pub fn run(s: StreamSettings, deps: DetectDeps, shared: Arc<Shared>, out: Arc<Outputs>) -> Result<()> {
    deps.feed.wait_ready(&shared);
    let ctx = Ctx::new(shared.clone(), STAGE, Some(s.max_token_lifetime_secs));
    let consumer: BaseConsumer<Ctx> = consumer_config(&s, &format!("{}.detect", s.group), STAGE)
        .create_with_context(ctx)
        .context("cannot create the detect consumer")?;
    let topics: Vec<&str> = deps.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("cannot subscribe to the events topic")?;
    let (revs, feed_version) = deps.feed.current();
    let mut h = Detect {
        parts: HashMap::new(),
        deps,
        revs,
        feed_version,
        shared: shared.clone(),
        out: out.clone(),
        idle: Duration::from_millis(s.idle_timeout_ms),
        events: Vec::new(),
    };
    stage::run(STAGE, &consumer, &shared, &s, &out, &mut h);
    Ok(())
}

impl Detect {
    fn count(&self, outcome: &str, n: u64) {
        if n > 0 {
            let l = OutcomeLabels { stage: STAGE.into(), outcome: outcome.into() };
            self.shared.metrics.events.get_or_create(&l).inc_by(n);
        }
    }

    /// Decode a record into `self.events`; the problem to dead-letter, if
    /// any (a Kong batch read directly may have good records beside it).
    fn decode(&mut self, m: &BorrowedMessage<'_>) -> Option<(&'static str, String)> {
        self.events.clear();
        let payload = m.payload().unwrap_or_default();
        match &mut self.deps.decoder {
            Decoder::Wire(strings) => match wire::decode(payload, strings) {
                Ok(ev) => {
                    self.events.push(ev);
                    None
                }
                Err(e) => Some(("bad_event", e.to_string())),
            },
            Decoder::Raw(p) => p.parse(m.topic(), m.partition(), m.offset(), payload, &mut self.events),
        }
    }

    /// Produce the findings of one engine call (live), or only remember
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
}

fn remember(part: &mut Part, req: Option<(String, i64)>) {
    if let Some((key, exp)) = req {
        if part.tombstones.len() < MAX_TOMBSTONES && exp != i64::MAX {
            part.tombstones.push(Reverse((exp, key)));
        }
    }
}

/// Pop the offsets whose events the engine has released.
fn released(tp: &Tp, part: &mut Part, all: bool) -> Vec<(Tp, i64)> {
    let wm = part.engine.watermark();
    let mut out = Vec::new();
    while let Some(Reverse((t, o))) = part.held.peek() {
        if !all && *t > wm {
            break;
        }
        out.push((tp.clone(), *o));
        part.held.pop();
    }
    out
}

impl Handler for Detect {
    #[allow(clippy::disallowed_methods)] // idle detection uses the wall clock
    fn message(&mut self, m: &BorrowedMessage<'_>) {
        let tp: Tp = (Arc::from(m.topic()), m.partition());
        let off = m.offset();
        let decoded = self.decode(m);
        let Some(mut part) = self.parts.remove(&tp) else {
            tracing::warn!(topic = m.topic(), partition = m.partition(), "record from a partition not assigned");
            return;
        };
        if off >= part.live_from {
            part.live = true;
        }
        let live = part.live;
        if let Some((kind, error)) = decoded {
            self.count("bad", 1);
            let whole = self.events.is_empty();
            if live && whole {
                let batch = self.shared.consumed(&tp, off);
                self.out.dead_letter(DeadLetter::of(STAGE, m, kind, error, None), batch);
                self.shared.close(batch, [(tp.clone(), off)]);
            } else if live {
                // bad records beside good ones: the offset waits for the good
                // events; the dead letter is delivered on its own
                let batch = self.shared.tracker.lock().expect("not poisoned").begin();
                self.out.dead_letter(DeadLetter::of(STAGE, m, kind, error, None), batch);
                self.shared.close(batch, []);
            }
            if whole {
                self.parts.insert(tp, part);
                return;
            }
        }
        part.last_event = Instant::now();
        let events = std::mem::take(&mut self.events);
        let n = events.len() as u64;
        let mut findings = Vec::new();
        let latest = events.iter().map(|e| e.time).max();
        for ev in events {
            findings.extend(part.engine.observe(ev));
        }
        let mut done = Vec::new();
        if live {
            self.shared.tracker.lock().expect("not poisoned").consumed(&tp, off);
            match latest {
                // the record is done once its latest event left the buffer
                Some(t) => part.held.push(Reverse((t, off))),
                None => done.push((tp.clone(), off)),
            }
        }
        done.extend(released(&tp, &mut part, false));
        self.emit(&mut part, findings, done, live);
        self.count(if live { "ok" } else { "rebuild" }, n);
        self.parts.insert(tp, part);
    }

    #[allow(clippy::disallowed_methods)]
    fn assigned(&mut self, parts: &[(Tp, i64, bool)]) {
        for (tp, live_from, live) in parts {
            let engine = Engine::new(self.deps.rules.clone(), self.revs.clone(), self.deps.engine);
            let part = Part {
                engine,
                live_from: *live_from,
                live: *live,
                held: BinaryHeap::new(),
                last_event: Instant::now(),
                tombstones: BinaryHeap::new(),
                reported: EngineStats::default(),
            };
            self.parts.insert(tp.clone(), part);
        }
    }

    fn revoked(&mut self, parts: &[Tp]) {
        for tp in parts {
            self.parts.remove(tp);
        }
    }

    fn tick(&mut self, consumer: &BaseConsumer<Ctx>) {
        let low = self.parts.values().map(|p| p.engine.watermark()).min();
        if let Some(low) = low.filter(|w| *w > crate::model::EventTime::MIN) {
            self.deps.feed.note_watermark(low.as_secs());
        }
        if let Some((revs, v)) = self.deps.feed.newer_than(self.feed_version) {
            self.shared.metrics.revocations_loaded.set(revs.len() as i64);
            for p in self.parts.values_mut() {
                p.engine.set_revocations(revs.clone());
            }
            (self.revs, self.feed_version) = (revs, v);
        }
        if self.parts.values().any(|p| !p.live) {
            if let Ok(pos) = consumer.position() {
                for e in pos.elements() {
                    if let (Some(p), Offset::Offset(o)) =
                        (self.parts.get_mut(&(Arc::from(e.topic()), e.partition())), e.offset())
                    {
                        p.live |= o >= p.live_from;
                    }
                }
            }
        }
        let tps: Vec<Tp> = self.parts.keys().cloned().collect();
        for tp in tps {
            let mut part = self.parts.remove(&tp).expect("present");
            self.housekeep(&tp, &mut part);
            self.parts.insert(tp, part);
        }
        let tracked: usize = self.parts.values().map(|p| p.engine.stats().tracked_tokens).sum();
        self.shared.metrics.tracked_tokens.set(tracked as i64);
    }

    fn not_ready(&self) -> Option<String> {
        let n = self.parts.values().filter(|p| !p.live).count();
        (n > 0).then(|| format!("rebuilding state of {n} partition(s)"))
    }
}

impl Detect {
    /// Idle flush, tombstones and metric deltas for one partition.
    fn housekeep(&mut self, tp: &Tp, part: &mut Part) {
        if part.live && !part.held.is_empty() && part.last_event.elapsed() >= self.idle {
            // nothing new for a while: judge what is buffered (state is kept)
            let findings = part.engine.drain();
            let done = released(tp, part, true);
            self.emit(part, findings, done, true);
        }
        if part.live {
            let wm = part.engine.watermark().as_secs().saturating_sub(self.deps.exp_margin_secs);
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
        let st = part.engine.stats();
        let m = &self.shared.metrics;
        let d = |new: u64, old: u64| new.saturating_sub(old);
        m.evictions
            .get_or_create(&CauseLabel { cause: "ttl".into() })
            .inc_by(d(st.evictions.ttl, part.reported.evictions.ttl));
        m.evictions
            .get_or_create(&CauseLabel { cause: "cap".into() })
            .inc_by(d(st.evictions.cap, part.reported.evictions.cap));
        self.count("late", d(st.late, part.reported.late));
        part.reported = st;
    }
}
