//! Findings on their way out of a replay: held only until the watermark of
//! every shard has passed them, then written in the order the output has
//! always had (time, rule, token), so memory does not grow with the number
//! of findings (a spray of millions of forgeries is a stream of alerts, not
//! a heap of them). A finding of an event that arrived late (behind the
//! watermark) comes out when it is made, which can be after later ones.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::model::{EventTime, Finding};

struct Entry {
    key: (EventTime, std::sync::Arc<str>, String),
    seq: u64,
    finding: Finding,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key).then(self.seq.cmp(&o.seq))
    }
}

/// Findings waiting for the watermark, in output order.
#[derive(Default)]
pub struct Ordered {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Ordered {
    pub fn push(&mut self, finding: Finding) {
        let key = (finding.time, finding.rule_id.clone(), finding.token.id.display_id());
        self.seq += 1;
        self.heap.push(Reverse(Entry { key, seq: self.seq, finding }));
    }

    pub fn extend(&mut self, fs: impl IntoIterator<Item = Finding>) {
        for f in fs {
            self.push(f);
        }
    }

    /// Hand out, in order, every finding at or before `upto`.
    pub fn flush(&mut self, upto: EventTime, emit: &mut dyn FnMut(Finding)) {
        while self.heap.peek().is_some_and(|Reverse(e)| e.key.0 <= upto) {
            if let Some(Reverse(e)) = self.heap.pop() {
                emit(e.finding);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
