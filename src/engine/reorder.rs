//! The reorder buffer: holds events until the watermark (max event time minus
//! allowed lateness) passes them, then releases them sorted by (time, source),
//! so out-of-order input within the lateness bound gives the same findings as
//! sorted input. Events that arrive in order (the common case) wait in a FIFO
//! at O(1); only out-of-order ones pay for the heap.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use crate::model::{AccessEvent, EventTime};

struct Item(AccessEvent);

fn order(a: &AccessEvent, b: &AccessEvent) -> Ordering {
    a.time.cmp(&b.time).then_with(|| a.source.cmp(&b.source))
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        order(&self.0, &o.0)
    }
}

#[derive(Default)]
pub struct Reorder {
    /// Sorted: every event pushed here was not before the previous one.
    fifo: VecDeque<AccessEvent>,
    /// Events that arrived before the back of the FIFO.
    heap: BinaryHeap<Reverse<Item>>,
}

impl Reorder {
    pub fn push(&mut self, ev: AccessEvent) {
        match self.fifo.back() {
            Some(last) if order(&ev, last) == Ordering::Less => self.heap.push(Reverse(Item(ev))),
            _ => self.fifo.push_back(ev),
        }
    }

    /// Pop the earliest event if its time is at or before `wm`.
    pub fn pop_until(&mut self, wm: EventTime) -> Option<AccessEvent> {
        let from_heap = match (self.fifo.front(), self.heap.peek()) {
            (Some(f), Some(Reverse(h))) => order(&h.0, f) == Ordering::Less,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if from_heap {
            if self.heap.peek().is_some_and(|Reverse(i)| i.0.time <= wm) {
                return self.heap.pop().map(|Reverse(i)| i.0);
            }
            return None;
        }
        if self.fifo.front().is_some_and(|e| e.time <= wm) {
            return self.fifo.pop_front();
        }
        None
    }

    pub fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
    }
}
