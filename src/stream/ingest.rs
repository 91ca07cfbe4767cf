//! The ingest stage: consume gateway records (a profile per topic), parse,
//! identify and enrich them, and produce each event to the events topic keyed
//! by its token, so one token's events stay in order on one partition. Bad
//! records go to the dead-letter topic; the stream goes on.
//!
//! Event time: every ~100 ms the stage writes a watermark record to every
//! events partition, naming each gateway partition it reads and the time
//! before which nothing more will come from it (see `clock`). The detect
//! stage waits for the slowest of them, so gateway partitions read at
//! different speeds (a backlog, a slow node) cannot make events late.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, TopicPartitionList};

use super::clock::Clocks;
use super::kafka::{consumer_config, wall_ms, Assignment, Ctx};
use super::metrics::{Outcomes, Shared};
use super::offsets::Tp;
use super::out::{DeadLetter, Outputs};
use super::stage::{self, Handler, TopicNames};
use super::window::Window;
use super::wire;
use crate::enrich::{Reader, ReaderFactory};
use crate::ingest::{IngestCounts, IngestError};
use crate::model::{AccessEvent, EventTime, IStr, SourcePos};
use crate::settings::StreamSettings;

const STAGE: &str = "ingest";
/// How often watermark records are written.
const MARKS_EVERY: Duration = Duration::from_millis(100);

/// Why a record went to the dead-letter topic.
#[derive(Debug, thiserror::Error)]
pub enum BadRecord {
    #[error("no profile configured for topic {0}")]
    UnknownTopic(String),
    /// The record (or, in a batch, its first bad record; `more` others).
    #[error("{first}{}", if *more > 0 { format!(" (and {more} more bad records)") } else { String::new() })]
    Ingest { first: IngestError, more: usize },
    #[error("{0}")]
    Wire(#[from] wire::WireError),
}

impl BadRecord {
    /// A short stable name (dead-letter header, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            BadRecord::UnknownTopic(_) => "unknown_topic",
            BadRecord::Ingest { first, .. } => first.kind(),
            BadRecord::Wire(e) => e.kind(),
        }
    }
}

/// A reader per input topic (each may have its own profile).
pub struct Parsers {
    by_topic: HashMap<String, (Reader, IStr)>,
    /// The readers' counts when [`Parsers::take_counts`] last looked.
    counted: IngestCounts,
}

impl Parsers {
    pub fn new(s: &StreamSettings, factory: &ReaderFactory) -> Self {
        let by_topic =
            s.inputs.iter().map(|i| (i.topic.clone(), (factory(i.profile), IStr::from(i.topic.as_str())))).collect();
        Parsers { by_topic, counted: IngestCounts::default() }
    }

    /// What ingest repaired or distrusted since the last call (for metrics).
    pub fn take_counts(&mut self) -> IngestCounts {
        let mut now = IngestCounts::default();
        for (r, _) in self.by_topic.values() {
            now.add(&r.counts());
        }
        let d = now.since(&self.counted);
        self.counted = now;
        d
    }

    /// Parse one record into events (a Kong batch holds several), enriched.
    /// Returns the problem to dead-letter, if any: the whole record's, or
    /// the first bad one of a batch (whose good records are still in `out`).
    pub fn parse(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
        out: &mut Vec<AccessEvent>,
    ) -> Option<BadRecord> {
        let Some((reader, name)) = self.by_topic.get_mut(topic) else {
            return Some(BadRecord::UnknownTopic(topic.to_string()));
        };
        let src = SourcePos::Kafka { topic: name.clone(), partition, offset };
        let mut errs = Vec::new();
        reader.read(payload, &src, out, &mut errs);
        let more = errs.len().saturating_sub(1);
        errs.into_iter().next().map(|first| BadRecord::Ingest { first, more })
    }
}

#[allow(clippy::disallowed_methods)] // the publishing timer starts now
pub fn run(
    s: StreamSettings,
    factory: ReaderFactory,
    lateness_secs: i64,
    shared: Arc<Shared>,
    out: Arc<Outputs>,
) -> Result<()> {
    let ctx = Ctx::new(shared.clone(), STAGE, None);
    let consumer: BaseConsumer<Ctx> = consumer_config(&s, &format!("{}.ingest", s.group), STAGE)
        .create_with_context(ctx)
        .context("cannot create the ingest consumer")?;
    let topics: Vec<&str> = s.inputs.iter().map(|i| i.topic.as_str()).collect();
    consumer.subscribe(&topics).context("cannot subscribe to the input topics")?;
    let mut h = Ingest {
        parsers: Parsers::new(&s, &factory),
        events: Vec::new(),
        shared: shared.clone(),
        out: out.clone(),
        clocks: Clocks::new(lateness_secs, s.align_secs, s.idle_timeout_ms as i64),
        events_partitions: 0,
        last_marks: Instant::now(),
        last_metadata: None,
        marks_due: false,
        format: match s.events_format {
            1 => wire::Format::V1,
            2 => wire::Format::V2,
            _ => wire::Format::V3,
        },
        window: Window::default(),
        buf: Vec::with_capacity(1024),
        key: String::with_capacity(128),
        topics: TopicNames::default(),
        outcomes: Outcomes::new(STAGE),
    };
    // the events topic's partitions are known before any event goes out
    for _ in 0..10 {
        h.events_partitions(&consumer);
        if h.events_partitions > 0 {
            break;
        }
        h.last_metadata = None;
        std::thread::sleep(Duration::from_millis(500));
    }
    stage::run(STAGE, &consumer, &shared, &s, &out, &mut h);
    Ok(())
}

struct Ingest {
    parsers: Parsers,
    events: Vec<AccessEvent>,
    shared: Arc<Shared>,
    out: Arc<Outputs>,
    clocks: Clocks,
    /// Partitions of the events topic (each gets the watermark records).
    events_partitions: i32,
    last_marks: Instant,
    last_metadata: Option<Instant>,
    /// Partitions were assigned: their watermark records (holding the
    /// detect stage back until they report) go out before any of their events.
    marks_due: bool,
    /// The events topic's format (`[stream] events_format`).
    format: wire::Format,
    /// The record and the key being produced (reused: no allocation per event).
    buf: Vec<u8>,
    key: String,
    topics: TopicNames,
    outcomes: Outcomes,
    /// Format 3: this period's packs.
    window: Window,
}

impl Ingest {
    fn count(&self, outcome: &'static str, n: u64) {
        self.outcomes.add(&self.shared.metrics, outcome, n);
    }

    /// The events topic's partition count, looked up now and then (it can grow).
    #[allow(clippy::disallowed_methods)]
    fn events_partitions(&mut self, consumer: &BaseConsumer<Ctx>) {
        if self.last_metadata.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) && self.events_partitions > 0 {
            return;
        }
        self.last_metadata = Some(Instant::now());
        let topic = self.out.events_topic.clone();
        if let Ok(md) = consumer.fetch_metadata(Some(&topic), Duration::from_secs(2)) {
            if let Some(t) = md.topics().iter().find(|t| t.name() == topic && t.error().is_none()) {
                // a topic's partitions only grow: an answer of fewer (none,
                // while it is recreated) would send packs where no detect reads
                self.events_partitions = self.events_partitions.max(t.partitions().len() as i32);
            }
        }
    }

    /// Write the watermark of every gateway partition this stage reads to
    /// every events partition (after the events produced before it).
    fn publish_marks(&mut self) {
        // the period's packs go first: the marks cover their events
        self.window.flush(&self.shared, &self.out);
        if self.events_partitions == 0 {
            return;
        }
        let marks = self.clocks.marks(EventTime(wall_ms().saturating_mul(1000)));
        if marks.is_empty() {
            return;
        }
        wire::encode_marks_as(self.format, &marks, &mut self.buf);
        for p in 0..self.events_partitions {
            self.out.marks(p, &self.buf);
        }
    }

    /// Pause partitions far ahead of the slowest; resume them when it caught up.
    fn align(&mut self, consumer: &BaseConsumer<Ctx>) {
        let (pause, resume) = self.clocks.align();
        let list = |v: &[Tp]| {
            let mut l = TopicPartitionList::new();
            for (t, p) in v {
                l.add_partition(t, *p);
            }
            l
        };
        if !pause.is_empty() {
            let _ = consumer.pause(&list(&pause));
            tracing::debug!(partitions = pause.len(), "ahead of the slowest input partition: paused");
        }
        if !resume.is_empty() {
            let _ = consumer.resume(&list(&resume));
        }
    }
}

impl Handler for Ingest {
    fn message(&mut self, m: &BorrowedMessage<'_>) {
        if self.marks_due && self.events_partitions > 0 {
            self.marks_due = false;
            self.publish_marks();
        }
        let tp = self.topics.tp(m.topic(), m.partition());
        // packs, once the events topic's partitions are known
        let packed = self.format == wire::Format::V3 && self.events_partitions > 0;
        if !packed {
            // nothing overtakes the window (its records are not tracked yet)
            self.window.flush(&self.shared, &self.out);
        }
        let batch = if packed { self.window.batch(&self.shared) } else { self.shared.consumed(&tp, m.offset()) };
        self.events.clear();
        let payload = m.payload().unwrap_or_default();
        let bad = self.parsers.parse(m.topic(), m.partition(), m.offset(), payload, &mut self.events);
        self.shared.metrics.ingested(&self.parsers.take_counts());
        let now = EventTime(wall_ms().saturating_mul(1000));
        for ev in &self.events {
            self.clocks.seen(&tp, ev.time, now);
        }
        let ok = if packed {
            let n = self.events_partitions;
            self.window.add(&tp, m.offset(), &self.events, n, &self.shared, &self.out)
        } else {
            let mut ok = 0;
            for (i, ev) in self.events.iter().enumerate() {
                if wire::key_into(ev, &mut self.key) {
                    wire::encode_as(self.format, ev, i as u32, &mut self.buf);
                    self.out.event(&self.key, &self.buf, batch);
                    ok += 1;
                }
            }
            ok
        };
        self.count("ok", ok);
        self.count("no_token", self.events.len() as u64 - ok);
        // the record's dead letter goes in the same batch as its good events
        if let Some(e) = bad {
            self.count("bad", 1);
            self.out.dead_letter(DeadLetter::of(STAGE, m, e.kind(), e.to_string(), None), batch);
        }
        if !packed {
            self.shared.close(batch, [(tp, m.offset())]);
        }
    }

    fn assigned(&mut self, parts: &[Assignment]) {
        for a in parts {
            self.clocks.assign(&a.tp);
        }
        self.marks_due = true;
    }

    fn revoked(&mut self, parts: &[Tp]) {
        self.window.flush(&self.shared, &self.out);
        for tp in parts {
            self.clocks.revoke(tp);
        }
    }

    fn drain(&mut self) {
        self.publish_marks();
    }

    #[allow(clippy::disallowed_methods)] // the publishing timer
    fn tick(&mut self, consumer: &BaseConsumer<Ctx>) {
        if self.last_marks.elapsed() < MARKS_EVERY {
            return;
        }
        self.last_marks = Instant::now();
        self.events_partitions(consumer);
        self.clocks.refresh(consumer);
        self.align(consumer);
        self.publish_marks();
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(MARKS_EVERY)
    }

    fn keep_paused(&self, tp: &Tp) -> bool {
        self.clocks.is_paused(tp)
    }
}

impl super::metrics::Metrics {
    /// Count what ingest repaired or distrusted.
    pub fn ingested(&self, c: &crate::ingest::IngestCounts) {
        if c.lossy_utf8 > 0 {
            self.ingest_repairs
                .get_or_create(&super::metrics::OutcomeOnly { outcome: "lossy_utf8".into() })
                .inc_by(c.lossy_utf8);
        }
        if c.bearer_mismatch > 0 {
            let l = super::metrics::OutcomeOnly { outcome: "bearer_mismatch".into() };
            self.ingest_repairs.get_or_create(&l).inc_by(c.bearer_mismatch);
        }
    }
}
