//! Hiding memory latency. The engine does little work per event, but each
//! event's token, token state and subject sit at random places in tables
//! larger than the caches, and each first read of them waits for memory
//! (most of the engine's time, per `perf`). While one event is judged, the
//! session asks the CPU for what the events queued behind it will read, in
//! three stages, each finding its addresses through what the stage before
//! brought into cache: the token and geo record of the event [`AHEAD`] x 3
//! places back, the token state and subject names of the one [`AHEAD`] x 2
//! back, the subject of the one [`AHEAD`] back. So the waits overlap the
//! judging. A hint only: nothing read is kept or changed, and an event
//! judged in another order (a late one, from the reorder heap) is only not
//! prefetched.

use crate::model::AccessEvent;

/// The spacing of the stages, in events.
pub(super) const AHEAD: usize = 4;

/// Ask the CPU for the cache lines of `*p` (no load waits on it; a
/// prefetch of any address is harmless). x86-64 only: elsewhere the
/// session does not prefetch at all.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fetch<T>(p: *const T) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    let skew = p as usize & 63;
    // the start of the line the object starts in
    let first = p.cast::<i8>().wrapping_sub(skew);
    // every line the object touches
    for off in (0..skew + std::mem::size_of::<T>().max(1)).step_by(64) {
        // SAFETY: a prefetch is a hint; it never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(off)) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fetch<T>(_: *const T) {}

impl super::Engine {
    /// The first stage: the event's token and geo record.
    pub(super) fn fetch_token(&self, ev: &AccessEvent) {
        if let Some(t) = &ev.token {
            fetch(std::sync::Arc::as_ptr(t));
        }
        if let Some(g) = &ev.geo {
            fetch(std::sync::Arc::as_ptr(g));
        }
    }

    /// The second stage: the token's state (one table probe), and the
    /// names its subject is found by.
    pub(super) fn fetch_state(&self, ev: &AccessEvent) {
        let Some(t) = &ev.token else { return };
        if let Some(st) = self.states.peek(&t.key) {
            fetch(st);
        }
        for s in [&t.iss, &t.sub].into_iter().flatten() {
            fetch(s.as_ptr());
        }
    }

    /// The third stage: the token's subject (one table probe).
    pub(super) fn fetch_subject(&self, ev: &AccessEvent) {
        let id = ev.token.as_deref().and_then(super::subjects::subject_of);
        if let Some(s) = id.and_then(|id| self.subjects.get(&id)) {
            fetch(s);
        }
    }
}
