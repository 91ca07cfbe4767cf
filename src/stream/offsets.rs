//! Which input offsets may be stored (at-least-once). An offset is done when
//! its record has left the engine (released from the reorder buffer, or had
//! nothing to buffer) and every output produced with it has a successful
//! delivery report. The offset stored for a partition is the first one not
//! done. Pure bookkeeping, shared between the stage loop and the producer's
//! delivery callback.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A topic-partition.
pub type Tp = (Arc<str>, i32);

/// Outputs produced together, and the input offsets that wait for them.
pub type BatchId = usize;

/// Batch ids stay under 2^48: a delivery opaque carries one beside a weight.
const BATCH_MASK: usize = usize::MAX >> 16;

/// The weight an output is counted with (what its delivery opaque can carry).
pub fn clamp_weight(w: usize) -> usize {
    w.clamp(1, 0xffff)
}

/// What a produced record's delivery report carries, in one word: its batch
/// and its weight (the events it holds, 1 to 65 535: the in-flight budget
/// counts events, so a pack of 500 weighs what 500 records did).
pub fn opaque(b: BatchId, weight: usize) -> usize {
    (b & BATCH_MASK) << 16 | clamp_weight(weight)
}

/// The batch and weight of a delivery opaque.
pub fn from_opaque(o: usize) -> (BatchId, usize) {
    (o >> 16, o & 0xffff)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Held {
    /// In the engine's reorder buffer.
    Engine,
    /// Released; waits for the deliveries of a batch.
    Batch(BatchId),
}

#[derive(Default, Debug)]
struct Part {
    open: BTreeMap<i64, Held>,
    /// Last consumed offset + 1.
    next: i64,
    /// The offset last handed out for storing.
    stored: i64,
}

#[derive(Default, Debug)]
struct Batch {
    remaining: usize,
    closed: bool,
    members: Vec<(Tp, i64)>,
}

#[derive(Default, Debug)]
pub struct Tracker {
    parts: HashMap<Tp, Part>,
    batches: HashMap<BatchId, Batch>,
    next_batch: BatchId,
    in_flight: usize,
}

impl Tracker {
    /// Start tracking a partition (assignment); forgets anything older.
    pub fn assign(&mut self, tp: Tp) {
        self.parts.insert(tp, Part { next: -1, stored: -1, ..Default::default() });
    }

    /// Stop tracking (revocation): late delivery reports for it are ignored.
    pub fn forget(&mut self, tp: &Tp) {
        self.parts.remove(tp);
    }

    /// A record was consumed and handed to the engine.
    pub fn consumed(&mut self, tp: &Tp, offset: i64) {
        if let Some(p) = self.parts.get_mut(tp) {
            p.open.insert(offset, Held::Engine);
            p.next = p.next.max(offset + 1);
        }
    }

    /// Open a batch for the outputs of one engine call.
    pub fn begin(&mut self) -> BatchId {
        self.next_batch = (self.next_batch + 1) & BATCH_MASK;
        if self.next_batch == 0 {
            self.next_batch = 1; // 0 is no batch
        }
        self.batches.insert(self.next_batch, Batch::default());
        self.next_batch
    }

    /// One more output of `b` is in flight, of `weight` events.
    pub fn add_output(&mut self, b: BatchId, weight: usize) {
        if let Some(batch) = self.batches.get_mut(&b) {
            batch.remaining += 1;
            self.in_flight += weight;
        }
    }

    /// The engine released these offsets during the call that produced `b`.
    pub fn close(&mut self, b: BatchId, released: impl IntoIterator<Item = (Tp, i64)>) {
        let Some(batch) = self.batches.get_mut(&b) else { return };
        batch.members.extend(released);
        batch.closed = true;
        if batch.remaining == 0 {
            self.finish(b);
        } else {
            for (tp, o) in &batch.members {
                if let Some(h) = self.parts.get_mut(tp).and_then(|p| p.open.get_mut(o)) {
                    *h = Held::Batch(b);
                }
            }
        }
    }

    /// A delivery report for an output of `b` (of `weight` events) succeeded.
    pub fn delivered(&mut self, b: BatchId, weight: usize) {
        let Some(batch) = self.batches.get_mut(&b) else { return };
        batch.remaining = batch.remaining.saturating_sub(1);
        self.in_flight = self.in_flight.saturating_sub(weight);
        if batch.remaining == 0 && batch.closed {
            self.finish(b);
        }
    }

    fn finish(&mut self, b: BatchId) {
        let Some(batch) = self.batches.remove(&b) else { return };
        for (tp, o) in batch.members {
            if let Some(p) = self.parts.get_mut(&tp) {
                if p.open.get(&o) == Some(&Held::Batch(b)) || p.open.get(&o) == Some(&Held::Engine) {
                    p.open.remove(&o);
                }
            }
        }
    }

    /// The id of the batch opened last.
    pub fn last_batch(&self) -> BatchId {
        self.next_batch
    }

    /// Every batch opened up to `b` has all its outputs delivered.
    pub fn done_through(&self, b: BatchId) -> bool {
        !self.batches.keys().any(|k| *k <= b)
    }

    /// Events in the outputs awaiting a delivery report.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The offset to store for `tp`: the first not done (or the next to consume).
    pub fn committable(&self, tp: &Tp) -> Option<i64> {
        let p = self.parts.get(tp)?;
        let c = p.open.keys().next().copied().unwrap_or(p.next);
        (c >= 0).then_some(c)
    }

    /// Offsets of `tps` that moved forward since the last call, to store.
    pub fn take_stores(&mut self, tps: &[Tp]) -> Vec<(Tp, i64)> {
        let mut out = Vec::new();
        for tp in tps {
            let Some(c) = self.committable(tp) else { continue };
            let Some(p) = self.parts.get_mut(tp) else { continue };
            if c > p.stored {
                p.stored = c;
                out.push((tp.clone(), c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> Tp {
        (Arc::from("t"), 0)
    }

    #[test]
    fn offset_waits_for_engine_and_deliveries() {
        let mut t = Tracker::default();
        t.assign(tp());
        t.consumed(&tp(), 10);
        t.consumed(&tp(), 11);
        // 10 released with two outputs; 11 still buffered
        let b = t.begin();
        t.add_output(b, 1);
        t.add_output(b, 1);
        t.close(b, [(tp(), 10)]);
        assert_eq!(t.committable(&tp()), Some(10));
        t.delivered(b, 1);
        assert_eq!(t.committable(&tp()), Some(10), "one delivery still missing");
        t.delivered(b, 1);
        assert_eq!(t.committable(&tp()), Some(11), "11 is in the engine");
        let b2 = t.begin();
        t.close(b2, [(tp(), 11)]);
        assert_eq!(t.take_stores(&[tp()]), vec![(tp(), 12)]);
        assert!(t.take_stores(&[tp()]).is_empty(), "stores only move forward");
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn reports_before_close_and_out_of_order_batches() {
        let mut t = Tracker::default();
        t.assign(tp());
        for o in 0..3 {
            t.consumed(&tp(), o);
        }
        let a = t.begin();
        t.add_output(a, 1);
        let b = t.begin();
        t.add_output(b, 1);
        t.delivered(a, 1); // the report can come before the call closes its batch
        t.close(a, [(tp(), 0)]);
        t.close(b, [(tp(), 1), (tp(), 2)]);
        assert_eq!(t.committable(&tp()), Some(1));
        t.delivered(b, 1);
        assert_eq!(t.committable(&tp()), Some(3));
    }

    #[test]
    fn a_pack_weighs_its_events_and_the_opaque_carries_both() {
        let mut t = Tracker::default();
        t.assign(tp());
        t.consumed(&tp(), 0);
        let b = t.begin();
        t.add_output(b, 500);
        t.add_output(b, 1);
        t.close(b, [(tp(), 0)]);
        assert_eq!(t.in_flight(), 501);
        for (b, w) in [(b, 500), (BATCH_MASK, 0xffff), (1, 1)] {
            assert_eq!(from_opaque(opaque(b, w)), (b, w));
        }
        assert_eq!(from_opaque(opaque(b, 0)), (b, 1), "a weight is at least 1");
        assert_eq!(from_opaque(opaque(b, 1 << 20)), (b, 0xffff), "and at most 65 535");
        t.delivered(b, 500);
        assert_eq!((t.in_flight(), t.committable(&tp())), (1, Some(0)));
        t.delivered(b, 1);
        assert_eq!((t.in_flight(), t.committable(&tp())), (0, Some(1)));
        t.next_batch = BATCH_MASK;
        assert_eq!(t.begin(), 1, "ids wrap within 48 bits, past 0");
    }

    #[test]
    fn revoked_partition_ignores_late_reports() {
        let mut t = Tracker::default();
        t.assign(tp());
        t.consumed(&tp(), 5);
        let b = t.begin();
        t.add_output(b, 1);
        t.close(b, [(tp(), 5)]);
        t.forget(&tp());
        t.delivered(b, 1);
        assert_eq!(t.committable(&tp()), None);
        assert!(t.take_stores(&[tp()]).is_empty());
    }
}
