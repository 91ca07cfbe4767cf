//! What the ingest stage gathers between two watermark records (events
//! format 3): a pack per events partition, and the gateway records read into
//! them. A full pack goes out at once; the rest go out when the period ends,
//! just before the watermark records (so they follow every event they
//! cover). Every pack of a period is an output of one tracker batch, and the
//! period's gateway records are its members: their offsets are stored once
//! every pack holding their events is delivered, and are not even known to
//! the tracker before (so no offset can be stored past an event not yet sent).

use super::metrics::Shared;
use super::offsets::{BatchId, Tp};
use super::out::Outputs;
use super::wire::pack::Pack;
use super::wire::{key_into, partition_for};
use crate::model::AccessEvent;

#[derive(Default)]
pub struct Window {
    packs: Vec<Pack>,
    /// Gateway records read in this period.
    members: Vec<(Tp, i64)>,
    /// The period's batch, opened by its first output.
    batch: Option<BatchId>,
    /// Reused: one event's record, and its key.
    scratch: Vec<u8>,
    key: String,
}

impl Window {
    /// The period's batch (opened now if this is its first output).
    pub fn batch(&mut self, shared: &Shared) -> BatchId {
        *self.batch.get_or_insert_with(|| shared.tracker.lock().expect("not poisoned").begin())
    }

    /// Add a gateway record's events to the packs of their partitions (out
    /// of `partitions`); returns how many had a token (the others have no
    /// partition key and are not sent).
    pub fn add(
        &mut self,
        tp: &Tp,
        offset: i64,
        events: &[AccessEvent],
        partitions: i32,
        shared: &Shared,
        out: &Outputs,
    ) -> u64 {
        if self.packs.len() < partitions as usize {
            self.packs.resize_with(partitions as usize, Pack::default);
        }
        let mut keyed = 0;
        for (i, ev) in events.iter().enumerate() {
            if !key_into(ev, &mut self.key) {
                continue;
            }
            keyed += 1;
            let p = partition_for(self.key.as_bytes(), partitions) as usize;
            super::wire::encode(ev, i as u32, &mut self.scratch);
            // a pack never grows past MAX_BYTES (but for one event alone)
            if self.packs[p].full_for(&self.scratch) {
                self.send(p, shared, out);
            }
            self.packs[p].push_record(&self.scratch);
        }
        self.members.push((tp.clone(), offset));
        keyed
    }

    fn send(&mut self, p: usize, shared: &Shared, out: &Outputs) {
        let b = self.batch(shared);
        let pack = &mut self.packs[p];
        out.pack(p as i32, pack.bytes(), pack.events(), b);
        pack.clear();
    }

    /// End the period: send every pack, and hand its gateway records to the
    /// tracker as the members of its batch.
    pub fn flush(&mut self, shared: &Shared, out: &Outputs) {
        for p in 0..self.packs.len() {
            if !self.packs[p].is_empty() {
                self.send(p, shared, out);
            }
        }
        if self.members.is_empty() && self.batch.is_none() {
            return;
        }
        let mut t = shared.tracker.lock().expect("not poisoned");
        let b = match self.batch.take() {
            Some(b) => b,
            None => t.begin(),
        };
        for (tp, o) in &self.members {
            t.consumed(tp, *o);
        }
        t.close(b, self.members.drain(..));
    }
}
