//! Per-token state, bounded two ways: an event-time deadline (the token's
//! `exp` plus a margin, or an idle TTL) enforced by watermarks, and a cap on
//! the number of tokens (the earliest deadline is evicted first). Both kinds
//! of eviction are counted. Keys are keyed 128-bit hashes, so a plain fast
//! hasher over them is safe from collision attacks.
//!
//! Tokens anyone can mint (raw tokens tokenhound could not verify, forgeries,
//! garbage bearer values) live in a pool of their own with its own cap: a
//! spray of millions of them evicts only its own kind, never the state of
//! the real users' tokens that thefts are found in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::model::{EventTime, TokenInfo, TokenKey, Use};

/// Hasher for [`TokenKey`]s (keyed-PRF output: the bytes are the hash).
pub use crate::model::PrfHasher as KeyHasher;

/// Boxed values: a hash table grows by doubling, so its slots stay small.
type Map<V> = HashMap<TokenKey, Box<V>, BuildHasherDefault<KeyHasher>>;

/// What the engine remembers of one token: only what detectors need (the
/// claims come with every event), kept small. A token used from one place
/// costs its map slot and this box; later uses are shared records that
/// exist only while they are the latest of their kind.
pub struct TokenState {
    /// The first use, inline: the baseline for drift.
    pub first: Use,
    /// The latest located use, when it is not the first use.
    pub later_located: Option<Arc<Use>>,
    /// Latest use per distinct place inside the concurrency window, for
    /// each place kind a rule counts by; `None` stands for the first use.
    pub recent: SmallVec<[(u64, Option<Arc<Use>>); 1]>,
    pub deadline: EventTime,
    /// (rule index, time it last fired), for dedup; boxed because most
    /// tokens never fire.
    pub fired: Option<Box<Vec<(u16, EventTime)>>>,
    /// In the pool of tokens anyone can mint.
    pub untrusted: bool,
    /// The token's risk score, once a finding added to it.
    pub risk: Option<Box<super::risk::Score>>,
    /// The first use in the open, when the first use was behind an
    /// anonymizer that hides the place (ip-drift's baseline then).
    pub first_open: Option<Arc<Use>>,
    /// A use of it was a new place for its subject (reported already by
    /// another token): none of its uses are learned.
    pub tainted: bool,
}

impl TokenState {
    /// The latest use with a location: one end of a travel.
    pub fn last_located(&self) -> Option<&Use> {
        self.later_located.as_deref().or_else(|| self.first.located().then_some(&self.first))
    }

    /// The same, shared, for evidence (made on demand: findings are rare).
    pub fn last_located_arc(&self) -> Option<Arc<Use>> {
        match &self.later_located {
            Some(u) => Some(u.clone()),
            None => self.first.located().then(|| self.first_arc()),
        }
    }

    /// The use drift is measured against: the first use, or the first in
    /// the open when the first hid its place behind an anonymizer.
    /// Borrowed: drift is checked on every use, and found on few.
    pub fn drift_base(&self) -> Option<&Use> {
        if self.first.hides_place() {
            self.first_open.as_deref()
        } else {
            Some(&self.first)
        }
    }

    /// The same, shared, for evidence.
    pub fn drift_base_arc(&self) -> Option<Arc<Use>> {
        if self.first.hides_place() {
            self.first_open.clone()
        } else {
            Some(self.first_arc())
        }
    }

    pub fn first_arc(&self) -> Arc<Use> {
        Arc::new(self.first.clone())
    }

    /// A `recent` entry's use.
    pub fn recent_use<'a>(&'a self, e: &'a Option<Arc<Use>>) -> &'a Use {
        e.as_deref().unwrap_or(&self.first)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct StateLimits {
    pub max_tokens: usize,
    /// Cap of the pool of tokens anyone can mint (unverified raw tokens,
    /// forgeries), apart from `max_tokens`.
    pub max_untrusted_tokens: usize,
    pub idle_ttl_secs: i64,
    pub exp_margin_secs: i64,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_tokens: 1_000_000,
            max_untrusted_tokens: 100_000,
            idle_ttl_secs: 86_400,
            exp_margin_secs: 300,
        }
    }
}

impl StateLimits {
    /// This limit split over `n` shards (each holds its share).
    pub fn share(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.max_tokens = self.max_tokens.div_ceil(n);
        self.max_untrusted_tokens = self.max_untrusted_tokens.div_ceil(n);
        self
    }
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evictions {
    pub ttl: u64,
    pub cap: u64,
}

pub struct States {
    map: Map<TokenState>,
    /// Per pool (trusted, untrusted): (deadline, key) entries, possibly
    /// stale: checked against the map.
    queue: [BinaryHeap<Reverse<(EventTime, TokenKey)>>; 2],
    /// Tokens per pool.
    count: [usize; 2],
    limits: StateLimits,
    pub evicted: Evictions,
}

impl States {
    pub fn new(limits: StateLimits) -> Self {
        States {
            map: Map::default(),
            queue: [BinaryHeap::new(), BinaryHeap::new()],
            count: [0, 0],
            limits,
            evicted: Evictions::default(),
        }
    }

    /// Tokens tracked in the pool of tokens anyone can mint.
    pub fn untrusted(&self) -> usize {
        self.count[1]
    }

    fn remove(&mut self, k: &TokenKey) {
        if let Some(s) = self.map.remove(k) {
            self.count[s.untrusted as usize] -= 1;
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A token's state. A caller that moves `deadline` later needs nothing
    /// else: the queue keeps the old entry, and when it is popped the live
    /// deadline is checked and the entry re-queued.
    pub fn get_mut(&mut self, k: &TokenKey) -> Option<&mut TokenState> {
        self.map.get_mut(k).map(|b| &mut **b)
    }

    /// A token's state, read only (a prefetch hint).
    pub fn peek(&self, k: &TokenKey) -> Option<&TokenState> {
        self.map.get(k).map(|b| &**b)
    }

    /// The deadline of a token last seen at `t`.
    pub fn deadline(&self, tok: &TokenInfo, t: EventTime) -> EventTime {
        let idle = t.plus_secs(self.limits.idle_ttl_secs);
        match tok.exp {
            Some(exp) => idle.min(EventTime::from_secs(exp).plus_secs(self.limits.exp_margin_secs)).max(t),
            None => idle,
        }
    }

    /// Insert a new token's state, evicting by cap (in its own pool) first
    /// when full.
    pub fn insert(&mut self, key: TokenKey, st: TokenState) {
        let pool = st.untrusted as usize;
        let cap = if st.untrusted { self.limits.max_untrusted_tokens } else { self.limits.max_tokens }.max(1);
        while self.count[pool] >= cap {
            if !self.evict_earliest(pool, None) {
                break;
            }
        }
        self.queue[pool].push(Reverse((st.deadline, key)));
        self.count[pool] += 1;
        self.map.insert(key, Box::new(st));
    }

    /// Drop a token whose deadline is before `t` (its next use). Expiry then
    /// depends only on the token's own events, not on how far the watermark
    /// of its shard has moved, so findings do not depend on sharding.
    pub fn expire_one(&mut self, k: &TokenKey, t: EventTime) {
        if self.map.get(k).is_some_and(|s| s.deadline < t) {
            self.remove(k);
            self.evicted.ttl += 1;
        }
    }

    /// Drop every token whose deadline is before the watermark.
    pub fn expire(&mut self, wm: EventTime) {
        for pool in 0..2 {
            while self.queue[pool].peek().is_some_and(|Reverse((d, _))| *d < wm) {
                self.evict_earliest(pool, Some(wm));
            }
        }
    }

    /// Pop the earliest queue entry; evict its token if the entry is live
    /// (and, with a watermark, expired). Returns false when the queue is empty.
    fn evict_earliest(&mut self, pool: usize, wm: Option<EventTime>) -> bool {
        let Some(Reverse((d, k))) = self.queue[pool].pop() else {
            return false;
        };
        let Some(s) = self.map.get(&k) else {
            return true;
        };
        if s.untrusted as usize != pool {
            return true; // a stale entry of a key re-inserted in the other pool
        }
        if s.deadline != d {
            self.queue[pool].push(Reverse((s.deadline, k)));
            return true;
        }
        match wm {
            Some(wm) if d >= wm => {
                self.queue[pool].push(Reverse((d, k)));
                return true;
            }
            Some(_) => self.evicted.ttl += 1,
            None => self.evicted.cap += 1,
        }
        self.remove(&k);
        true
    }
}
