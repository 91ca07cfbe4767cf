//! Event time of what a stage reads, per gateway partition: the newest event
//! time seen, and whether the partition is caught up (the consumer's position
//! has reached the high watermark of the last fetch). From it, the watermark
//! the stage may promise for the partition: the newest time seen minus the
//! allowed lateness; once caught up, that newest time moved on by the
//! processing time spent waiting since it was read, never past now (a live
//! partition quiet for 3 s has its watermark 3 s on, so a sparse stream is
//! judged within the lateness; a historic backlog that was drained moves on
//! only as fast as the clock, so more of it arriving later is not late; an
//! empty partition holds nothing back; a paused or backlogged one is not
//! caught up and always holds the detect stage back). A partition caught up
//! and quiet for `idle` (a drained historic backlog, a node that left) holds
//! nothing back any more: its watermark is processing time (what comes from
//! it later may be late, as in Flink's idleness). Partitions
//! reading far ahead of the slowest are paused (watermark alignment), so
//! the detect stage's buffers stay bounded while a backlog drains.

use std::collections::HashMap;
use std::ffi::CString;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Offset;

use super::kafka::Ctx;
use super::offsets::Tp;
use crate::model::EventTime;

#[derive(Clone, Copy, Debug)]
struct Clock {
    newest: EventTime,
    /// Processing time (µs) when the newest event was read.
    read_at: i64,
    caught_up: bool,
    paused: bool,
}

/// The clocks of the partitions a stage has been assigned.
pub struct Clocks {
    parts: HashMap<Tp, Clock>,
    lateness_secs: i64,
    /// Pause a partition this far ahead of the slowest one.
    align_secs: i64,
    /// Caught up and quiet this long (µs): idle.
    idle_us: i64,
}

impl Clocks {
    pub fn new(lateness_secs: i64, align_secs: i64, idle_ms: i64) -> Self {
        Clocks { parts: HashMap::new(), lateness_secs, align_secs, idle_us: idle_ms.saturating_mul(1000) }
    }

    pub fn assign(&mut self, tp: &Tp) {
        let c = Clock { newest: EventTime::MIN, read_at: 0, caught_up: false, paused: false };
        self.parts.entry(tp.clone()).or_insert(c);
    }

    pub fn revoke(&mut self, tp: &Tp) {
        self.parts.remove(tp);
    }

    /// An event of `tp` was read at processing time `now`: its partition is
    /// not caught up any more.
    pub fn seen(&mut self, tp: &Tp, t: EventTime, now: EventTime) {
        if let Some(c) = self.parts.get_mut(tp) {
            if t >= c.newest {
                c.newest = t;
                c.read_at = now.0;
            }
            c.caught_up = false;
        }
    }

    /// Ask the consumer which partitions have nothing left to read.
    pub fn refresh(&mut self, consumer: &BaseConsumer<Ctx>) {
        let Ok(pos) = consumer.position() else { return };
        for e in pos.elements() {
            let tp: Tp = (e.topic().into(), e.partition());
            let Some(c) = self.parts.get_mut(&tp) else { continue };
            let high = cached_high(consumer, e.topic(), e.partition());
            c.caught_up = match (e.offset(), high) {
                (Offset::Offset(p), Some(h)) => p >= h,
                // nothing consumed yet, and nothing to consume
                (_, Some(0)) => true,
                _ => false,
            };
        }
    }

    /// Say whether `tp` has nothing left to read (what `refresh` asks the
    /// consumer; in-process tests say it themselves).
    pub fn set_caught_up(&mut self, tp: &Tp, caught_up: bool) {
        if let Some(c) = self.parts.get_mut(tp) {
            c.caught_up = caught_up;
        }
    }

    /// The watermark of each partition, as `topic/partition` names.
    pub fn marks(&self, now: EventTime) -> Vec<(String, EventTime)> {
        let mut v: Vec<(String, EventTime)> =
            self.parts.iter().map(|((t, p), c)| (format!("{t}/{p}"), self.watermark(c, now))).collect();
        v.sort();
        v
    }

    /// One partition's watermark.
    pub fn watermark_of(&self, tp: &Tp, now: EventTime) -> Option<EventTime> {
        self.parts.get(tp).map(|c| self.watermark(c, now))
    }

    fn watermark(&self, c: &Clock, now: EventTime) -> EventTime {
        let t = match (c.caught_up, c.newest == EventTime::MIN) {
            // caught up and never a record: nothing to wait for
            (true, true) => now,
            (true, false) => {
                let waited = now.0.saturating_sub(c.read_at).max(0);
                if waited >= self.idle_us {
                    now.max(c.newest)
                } else {
                    EventTime(c.newest.0.saturating_add(waited)).min(now.max(c.newest))
                }
            }
            (false, _) => c.newest,
        };
        if t == EventTime::MIN {
            EventTime::MIN
        } else {
            t.minus_secs(self.lateness_secs)
        }
    }

    /// Alignment: partitions to pause (far ahead of the slowest partition
    /// that still has records to read) and to resume.
    pub fn align(&mut self) -> (Vec<Tp>, Vec<Tp>) {
        let slowest = self.parts.values().filter(|c| !c.caught_up).map(|c| c.newest).min();
        let (mut pause, mut resume) = (Vec::new(), Vec::new());
        for (tp, c) in self.parts.iter_mut() {
            let ahead = slowest.is_some_and(|s| s > EventTime::MIN && c.newest > s.plus_secs(self.align_secs));
            if ahead && !c.paused {
                c.paused = true;
                pause.push(tp.clone());
            } else if !ahead && c.paused {
                c.paused = false;
                resume.push(tp.clone());
            }
        }
        (pause, resume)
    }

    /// Partitions paused by the alignment (the backpressure resume must not
    /// wake them).
    pub fn is_paused(&self, tp: &Tp) -> bool {
        self.parts.get(tp).is_some_and(|c| c.paused)
    }
}

/// The assigned partitions whose consumer position reached the high
/// watermark of the last fetch: nothing left to read.
pub fn caught_up(consumer: &BaseConsumer<Ctx>) -> Vec<Tp> {
    let Ok(pos) = consumer.position() else { return Vec::new() };
    pos.elements()
        .iter()
        .filter(|e| match (e.offset(), cached_high(consumer, e.topic(), e.partition())) {
            (Offset::Offset(p), Some(h)) => p >= h,
            (_, Some(0)) => true,
            _ => false,
        })
        .map(|e| (e.topic().into(), e.partition()))
        .collect()
}

/// The high watermark librdkafka last fetched for a partition (no broker
/// round trip); `None` before the first fetch.
pub(super) fn cached_high(consumer: &BaseConsumer<Ctx>, topic: &str, partition: i32) -> Option<i64> {
    let t = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: a live client handle, a NUL-terminated topic name and two
    // out-parameters; librdkafka only reads its own cached offsets.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            t.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_follow_events_then_processing_time_and_align() {
        let mut c = Clocks::new(5, 60, 30_000);
        let (a, b): (Tp, Tp) = (("gw".into(), 0), ("gw".into(), 1));
        c.assign(&a);
        c.assign(&b);
        let now = EventTime::from_secs(10_000);
        assert_eq!(c.watermark_of(&a, now), Some(EventTime::MIN), "nothing known: holds back");
        c.seen(&a, EventTime::from_secs(1_000), now);
        c.seen(&b, EventTime::from_secs(2_000), now);
        assert_eq!(c.watermark_of(&a, now), Some(EventTime::from_secs(995)));
        // b runs far ahead of a: paused until a catches up
        assert_eq!(c.align(), (vec![b.clone()], vec![]));
        assert!(c.is_paused(&b));
        c.seen(&a, EventTime::from_secs(1_990), now);
        assert_eq!(c.align(), (vec![], vec![b.clone()]));
        // caught up: the newest time moves on with the time spent waiting
        c.parts.get_mut(&a).unwrap().caught_up = true;
        assert_eq!(c.watermark_of(&a, now.plus_secs(3)), Some(EventTime::from_secs(1_988)));
        // quiet for the idle timeout: processing time
        assert_eq!(c.watermark_of(&a, now.plus_secs(31)), Some(now.plus_secs(26)));
        // a live partition (event time = processing time) never passes now
        c.seen(&a, now, now);
        c.parts.get_mut(&a).unwrap().caught_up = true;
        assert_eq!(c.watermark_of(&a, now.plus_secs(2)), Some(now.plus_secs(2 - 5)));
        // an empty partition, caught up, holds nothing back
        let e: Tp = ("gw".into(), 2);
        c.assign(&e);
        c.parts.get_mut(&e).unwrap().caught_up = true;
        assert_eq!(c.watermark_of(&e, now), Some(now.minus_secs(5)));
        assert_eq!(c.marks(now).len(), 3);
    }
}
