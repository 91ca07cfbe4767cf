//! The reorder buffer: holds events until the watermark passes them, then
//! releases them sorted by (time, content), so input out of order within
//! the allowed lateness gives the same findings as sorted input. Events of
//! equal time are ordered by a hash of what they say (token, address,
//! client, request), never by where they were read: replay's file lines
//! and the stream's Kafka offsets order them alike. Events that arrive in
//! order (the common case) wait in a FIFO at O(1); only out-of-order ones
//! pay for the heap.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::hash::Hasher;

use crate::model::{AccessEvent, EventTime};

/// A stable tie-break for events of the same time: their content.
fn tie(ev: &AccessEvent) -> u64 {
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x746f_6b65_6e68_6f75, 0x6e64_2f74_6965_2f31);
    if let Some(t) = &ev.token {
        h.write(&t.key.0);
    }
    match ev.client_ip {
        Some(std::net::IpAddr::V4(a)) => h.write(&a.octets()),
        Some(std::net::IpAddr::V6(a)) => h.write(&a.octets()),
        None => h.write_u8(0),
    }
    for s in [ev.user_agent.as_deref().unwrap_or(""), &ev.method, &ev.path, ev.request_id.as_deref().unwrap_or("")] {
        h.write(s.as_bytes());
        h.write_u8(0xff);
    }
    h.write_u16(ev.status);
    h.write_u64(ev.bytes.unwrap_or(u64::MAX));
    h.finish()
}

fn order(a: &AccessEvent, b: &AccessEvent) -> Ordering {
    a.time.cmp(&b.time).then_with(|| tie(a).cmp(&tie(b)))
}

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

    /// The time of the earliest event.
    pub fn earliest(&self) -> Option<EventTime> {
        let f = self.fifo.front().map(|e| e.time);
        let h = self.heap.peek().map(|Reverse(i)| i.0.time);
        match (f, h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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

    /// The in-order event `i` places behind the front (not counting the
    /// heap's): what will be judged soon, for prefetching.
    pub fn ahead(&self, i: usize) -> Option<&AccessEvent> {
        self.fifo.get(i)
    }

    pub fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
    }
}
