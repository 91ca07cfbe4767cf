//! The reorder buffer: holds events until the watermark (max event time minus
//! allowed lateness) passes them, then releases them sorted by (time, source),
//! so out-of-order input within the lateness bound gives the same findings as
//! sorted input.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::model::{AccessEvent, EventTime};

struct Item(AccessEvent);

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
        self.0.time.cmp(&o.0.time).then_with(|| self.0.source.cmp(&o.0.source))
    }
}

#[derive(Default)]
pub struct Reorder {
    heap: BinaryHeap<Reverse<Item>>,
}

impl Reorder {
    pub fn push(&mut self, ev: AccessEvent) {
        self.heap.push(Reverse(Item(ev)));
    }

    /// Pop the earliest event if its time is at or before `wm`.
    pub fn pop_until(&mut self, wm: EventTime) -> Option<AccessEvent> {
        if self.heap.peek().is_some_and(|Reverse(i)| i.0.time <= wm) {
            return self.heap.pop().map(|Reverse(i)| i.0);
        }
        None
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}
