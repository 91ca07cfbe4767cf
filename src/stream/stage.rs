//! The poll loop every consuming stage shares: act on rebalances, keep
//! polling (so the group and its callbacks are served) while pausing the
//! assigned partitions when too many outputs await delivery, store the
//! offsets that are done, tick the handler, and on shutdown: stop polling,
//! wait for the deliveries, store and commit, leave the group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{Assignment, Change, Ctx};
use super::metrics::{Shared, StageLabel};
use super::offsets::Tp;
use super::out::Outputs;
use crate::settings::StreamSettings;

/// What a stage does with the records and events of its consumer.
pub trait Handler {
    fn message(&mut self, m: &BorrowedMessage<'_>);
    /// Partitions assigned.
    fn assigned(&mut self, _parts: &[Assignment]) {}
    fn revoked(&mut self, _parts: &[Tp]) {}
    /// Shutdown: send what is gathered, before the last deliveries are awaited.
    fn drain(&mut self) {}
    /// Periodic work (idle partitions, metrics); `position` reads the consumer's.
    fn tick(&mut self, _consumer: &BaseConsumer<Ctx>) {}
    /// `Some(reason)` while the stage is not ready (e.g. rebuilding).
    fn not_ready(&self) -> Option<String> {
        None
    }
    /// How often `tick` runs (default: every 200 ms).
    fn tick_every(&self) -> Option<Duration> {
        None
    }
    /// A partition the handler keeps paused (watermark alignment): the
    /// backpressure resume leaves it alone.
    fn keep_paused(&self, _tp: &Tp) -> bool {
        false
    }
}

/// The names of the topics a consumer reads, shared: a record's partition
/// id without allocating its topic name for every record.
#[derive(Default)]
pub struct TopicNames(Vec<Arc<str>>);

impl TopicNames {
    pub fn tp(&mut self, topic: &str, partition: i32) -> Tp {
        if let Some(t) = self.0.iter().find(|t| &***t == topic) {
            return (t.clone(), partition);
        }
        let t: Arc<str> = Arc::from(topic);
        self.0.push(t.clone());
        (t, partition)
    }
}

const HOUSEKEEPING_EVERY: u32 = 256;
const TICK: Duration = Duration::from_millis(200);

/// Run the loop until shutdown or a fatal error, then shut down cleanly.
#[allow(clippy::disallowed_methods)] // the driver's own timers
pub fn run<H: Handler>(
    stage: &'static str,
    consumer: &BaseConsumer<Ctx>,
    shared: &Arc<Shared>,
    s: &StreamSettings,
    out: &Outputs,
    h: &mut H,
) {
    let label = StageLabel::new(stage);
    shared.metrics.stage_started(stage);
    let mut assigned: Vec<Tp> = Vec::new();
    let mut paused = false;
    let mut since_housekeeping = 0u32;
    let mut last_tick = Instant::now();
    let tick_every = h.tick_every().unwrap_or(TICK).min(TICK);
    shared.set_ready(stage, Some("joining the consumer group".into()));
    while !shared.stopping() {
        since_housekeeping += 1;
        if since_housekeeping >= HOUSEKEEPING_EVERY || last_tick.elapsed() >= tick_every {
            since_housekeeping = 0;
            shared.metrics.assigned_partitions.get_or_create(&label).set(assigned.len() as i64);
            let in_flight = shared.tracker.lock().expect("not poisoned").in_flight();
            if !paused && in_flight >= s.max_in_flight {
                paused = consumer.pause(&tpl(&assigned)).is_ok();
                shared.metrics.pauses.get_or_create(&label).inc();
                tracing::debug!(stage, in_flight, "pausing input partitions");
            } else if paused && in_flight <= s.max_in_flight / 2 {
                let wake: Vec<Tp> = assigned.iter().filter(|tp| !h.keep_paused(tp)).cloned().collect();
                paused = consumer.resume(&tpl(&wake)).is_err();
            }
            shared.metrics.paused.get_or_create(&label).set(paused as i64);
            store_done(consumer, shared, &assigned);
        }
        let polled = consumer.poll(Duration::from_millis(20));
        // rebalances run inside poll, before any record of a new assignment
        if consumer.context().has_changes() {
            for ch in consumer.context().take_changes() {
                apply_change(ch, shared, &mut assigned, h);
                paused = false; // a new assignment starts unpaused
            }
        }
        match polled {
            Some(Ok(m)) => h.message(&m),
            Some(Err(e)) => {
                shared.metrics.kafka_errors.get_or_create(&label).inc();
                if e.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::AutoOffsetReset) {
                    // auto_offset_reset = "error": never guess where to start
                    shared.alarm(format!("{stage}: no committed offset and auto_offset_reset = error: {e}"));
                } else {
                    tracing::warn!(stage, "consumer error: {e}");
                }
            }
            None => since_housekeeping = HOUSEKEEPING_EVERY,
        }
        if last_tick.elapsed() >= tick_every {
            last_tick = Instant::now();
            h.tick(consumer);
            let blocker = if assigned.is_empty() { Some("no partitions assigned".into()) } else { h.not_ready() };
            shared.set_ready(stage, blocker);
        }
    }
    h.drain();
    finish(stage, consumer, shared, s, out, &assigned);
}

fn apply_change<H: Handler>(ch: Change, shared: &Shared, assigned: &mut Vec<Tp>, h: &mut H) {
    let mut t = shared.tracker.lock().expect("not poisoned");
    match ch {
        Change::Assigned(parts) => {
            for a in &parts {
                t.assign(a.tp.clone());
            }
            drop(t);
            assigned.extend(parts.iter().map(|a| a.tp.clone()));
            h.assigned(&parts);
        }
        Change::Revoked(parts) => {
            for tp in &parts {
                t.forget(tp);
            }
            drop(t);
            assigned.retain(|a| !parts.contains(a));
            h.revoked(&parts);
        }
    }
}

/// Store the offsets the tracker says are done (committed in the background).
pub fn store_done(consumer: &BaseConsumer<Ctx>, shared: &Shared, parts: &[Tp]) {
    let stores = shared.tracker.lock().expect("not poisoned").take_stores(parts);
    if stores.is_empty() {
        return;
    }
    let mut l = TopicPartitionList::new();
    for ((topic, p), o) in &stores {
        let _ = l.add_partition_offset(topic, *p, Offset::Offset(*o));
    }
    if let Err(e) = consumer.store_offsets(&l) {
        tracing::debug!("store offsets: {e}");
    }
}

fn tpl(parts: &[Tp]) -> TopicPartitionList {
    let mut l = TopicPartitionList::new();
    for (t, p) in parts {
        l.add_partition(t, *p);
    }
    l
}

/// Stop polling; wait for the outputs in flight; store and commit; leave.
fn finish(
    stage: &'static str,
    consumer: &BaseConsumer<Ctx>,
    shared: &Shared,
    s: &StreamSettings,
    out: &Outputs,
    assigned: &[Tp],
) {
    let all = out.flush(Duration::from_millis(s.shutdown_timeout_ms));
    if !all {
        tracing::warn!(stage, "shutdown deadline: some outputs were not acknowledged; their inputs stay uncommitted");
    }
    store_done(consumer, shared, assigned);
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => tracing::info!(stage, "offsets committed"),
        Err(e) => tracing::debug!(stage, "final commit: {e}"),
    }
    consumer.unsubscribe();
    shared.set_ready(stage, Some("stopped".into()));
}
