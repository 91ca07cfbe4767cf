//! Per-subject baselines: for each vouched `iss` + `sub`, the countries,
//! networks (the ASN, or the /24 or /48 prefix without an ASN database),
//! cities and client families it was seen with, each a small top-k of
//! exponentially decayed counts with first and last seen. Learned from event
//! time only, from trusted tokens only, and never from a use that raised a
//! finding or belongs to a token at risk (a thief's uses do not become the
//! subject's normal). Bounded: `TOP_*` entries per attribute and a cap on
//! subjects, the least recently seen evicted first (counted); a subject
//! unseen for the whole window expires on the watermark.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::risk::Score;
use super::seen::{city_key, decay, observe};
pub use super::seen::{client_key, country_key, country_name, network_key, Seen, Seens};
use crate::model::{EventTime, TokenInfo, Use};

const TOP_COUNTRIES: usize = 6;
const TOP_NETWORKS: usize = 8;
const TOP_CITIES: usize = 6;
const TOP_CLIENTS: usize = 6;

#[derive(Clone, Copy, Debug)]
pub struct BaselineLimits {
    pub max_subjects: usize,
    /// What a subject "has used": seen inside this window (also the decay
    /// time constant of the counts, and the idle lifetime of a subject).
    pub window_secs: i64,
}

impl Default for BaselineLimits {
    fn default() -> Self {
        BaselineLimits { max_subjects: 1_000_000, window_secs: 30 * 86_400 }
    }
}

impl BaselineLimits {
    /// This limit split over `n` shards.
    pub fn share(mut self, n: usize) -> Self {
        self.max_subjects = self.max_subjects.div_ceil(n.max(1));
        self
    }
}

/// `iss` and `sub` of a vouched token.
pub type SubjectId = (Arc<str>, Arc<str>);

/// The subject of a token whose claims count, if it names one.
pub fn subject_of(tok: &TokenInfo) -> Option<SubjectId> {
    if !tok.trusted() {
        return None;
    }
    let sub = tok.sub.clone()?;
    Some((tok.iss.clone().unwrap_or_else(no_issuer), sub))
}

/// The issuer of a token that names none: one shared empty name (each
/// event of such a token allocated its own).
fn no_issuer() -> Arc<str> {
    static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| "".into()).clone()
}

/// What the engine knows of one subject's normal.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Subject {
    /// Epoch seconds of the first and last learned use.
    pub first: i64,
    pub last: i64,
    pub uses: u32,
    pub countries: Seens,
    pub networks: Seens,
    pub cities: Seens,
    pub clients: Seens,
    /// New places already reported (country and network keys): one alert
    /// per subject per new place per window, not one per token.
    #[serde(default)]
    pub reported: Seens,
    /// The latest learned located use: (epoch seconds, lat, lon).
    #[serde(default)]
    pub last_located: Option<(i64, f32, f32)>,
    #[serde(default)]
    pub risk: Option<Box<Score>>,
    /// The latest event folded into this state (learned or scored).
    #[serde(default)]
    pub upto: EventTime,
    /// Restored from a snapshot: events up to here are in it already (a
    /// rebuild that reads them again must not fold them twice).
    #[serde(skip)]
    pub skip_upto: EventTime,
}

impl Subject {
    /// Learn one use (`client`: its [`client_key`]).
    pub fn learn(&mut self, u: &Use, window: i64, client: Option<u64>) {
        self.upto = self.upto.max(u.time);
        let t = u.time.as_secs();
        if self.uses == 0 {
            self.first = t;
        }
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        self.uses = self.uses.saturating_add(1);
        // an exit that hides the place is not where the subject is
        let open = !u.hides_place();
        if let Some(k) = country_key(u).filter(|_| open) {
            observe(&mut self.countries, k, None, t, TOP_COUNTRIES, window);
        }
        if let Some(k) = network_key(u).filter(|_| open) {
            observe(&mut self.networks, k, None, t, TOP_NETWORKS, window);
        }
        if let Some((k, at)) = city_key(u).filter(|_| open) {
            observe(&mut self.cities, k, Some(at), t, TOP_CITIES, window);
            if self.last_located.is_none_or(|(lt, ..)| lt <= t) {
                self.last_located = Some((t, at.0, at.1));
            }
        }
        if let Some(k) = client {
            observe(&mut self.clients, k, None, t, TOP_CLIENTS, window);
        }
    }

    /// A saved state made safe to hold (a baseline file or a snapshot record
    /// may have been edited): lists cut to their caps, times no later than
    /// the state's own newest entry, so `upto` cannot freeze a subject.
    pub fn sanitize(&mut self) {
        for (list, cap) in [
            (&mut self.countries, TOP_COUNTRIES),
            (&mut self.networks, TOP_NETWORKS),
            (&mut self.cities, TOP_CITIES),
            (&mut self.clients, TOP_CLIENTS),
            (&mut self.reported, TOP_NETWORKS),
        ] {
            list.truncate(cap);
            list.shrink_to_fit();
            for e in list.iter_mut() {
                if !e.weight.is_finite() || e.weight < 0.0 {
                    e.weight = 1.0;
                }
                e.sanitize();
            }
        }
        // a place off the globe (1e39 reads as an infinite f32) is no place
        if self
            .last_located
            .is_some_and(|(_, la, lo)| !((-90.0..=90.0).contains(&la) && (-180.0..=180.0).contains(&lo)))
        {
            self.last_located = None;
        }
        if let Some(r) = self.risk.as_mut() {
            r.parts.truncate(8);
            if !r.value.is_finite() || r.value < 0.0 {
                r.value = 0.0;
            }
        }
        let newest = [&self.countries, &self.networks, &self.cities, &self.clients]
            .iter()
            .flat_map(|l| l.iter().map(|e| e.last()))
            .max()
            .unwrap_or(self.first);
        self.last = self.last.min(newest);
        self.first = self.first.min(self.last);
        let risk_at = self.risk.as_ref().map_or(EventTime::MIN, |r| r.at);
        self.upto = self.upto.min(EventTime::from_secs(self.last.saturating_add(1)).max(risk_at));
    }

    /// Remember a reported new place.
    pub fn report(&mut self, key: u64, t: i64, window: i64) {
        observe(&mut self.reported, key, None, t, TOP_NETWORKS, window);
    }

    /// Seen inside the window before `t`.
    pub fn knows(list: &[Seen], key: u64, t: i64, window: i64) -> bool {
        list.iter().any(|s| s.key == key && s.last() >= t - window)
    }

    /// The values of an attribute seen inside the window, strongest first.
    pub fn live(list: &[Seen], t: i64, window: i64) -> Vec<&Seen> {
        let mut v: Vec<&Seen> = list.iter().filter(|s| s.last() >= t - window).collect();
        v.sort_by(|a, b| decay(b.weight, b.last(), t, window).total_cmp(&decay(a.weight, a.last(), t, window)));
        v
    }
}

/// Every subject an engine holds, bounded.
pub struct Baselines {
    map: HashMap<SubjectId, Box<Subject>>,
    /// (last seen, id) entries, possibly stale: checked against the map.
    queue: BinaryHeap<Reverse<(i64, SubjectId)>>,
    pub limits: BaselineLimits,
    pub evicted_ttl: u64,
    pub evicted_cap: u64,
    /// Changed since the last [`Baselines::take_changes`] (with `track`).
    dirty: std::collections::BTreeSet<SubjectId>,
    /// Dropped since then (their snapshots can be tombstoned).
    gone: Vec<SubjectId>,
    track: bool,
    /// Client keys by user agent (address of the interned string).
    ua_keys: HashMap<usize, (crate::model::IStr, u64), std::hash::BuildHasherDefault<AddrHasher>>,
}

/// Hasher for the addresses of interned strings (the allocator's choice,
/// not a sender's): a multiply, the high bits folded into the low ones
/// (an aligned address's low bits are zero).
#[derive(Default)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_usize(b as usize);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let p = (self.0 ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = p ^ (p >> 32);
    }
}

impl Baselines {
    pub fn new(limits: BaselineLimits) -> Self {
        Baselines {
            map: HashMap::new(),
            queue: BinaryHeap::new(),
            limits,
            evicted_ttl: 0,
            evicted_cap: 0,
            dirty: Default::default(),
            gone: Vec::new(),
            track: false,
            ua_keys: HashMap::default(),
        }
    }

    /// Remember what changes, for snapshots ([`Baselines::take_changes`]).
    pub fn track_changes(&mut self) {
        self.track = true;
    }

    /// The subjects changed since the last call (sorted), and those dropped.
    pub fn take_changes(&mut self) -> (Vec<(SubjectId, Subject)>, Vec<SubjectId>) {
        let changed = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|id| self.map.get(&id).map(|s| (id, (**s).clone())))
            .collect();
        (changed, std::mem::take(&mut self.gone))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, id: &SubjectId) -> Option<&Subject> {
        self.map.get(id).map(|b| &**b)
    }

    /// The subject, made when new (evicting the least recently seen at the cap).
    pub fn entry(&mut self, id: &SubjectId, t: i64) -> &mut Subject {
        if !self.map.contains_key(id) {
            while self.map.len() >= self.limits.max_subjects.max(1) {
                if !self.pop_oldest(None) {
                    break;
                }
            }
            self.queue.push(Reverse((t, id.clone())));
            self.map.insert(id.clone(), Box::new(Subject { first: t, last: t, ..Subject::default() }));
        }
        if self.track && !self.dirty.contains(id) {
            self.dirty.insert(id.clone());
        }
        self.map.get_mut(id).expect("inserted")
    }

    /// Learn one use of a subject's token.
    pub fn learn(&mut self, id: &SubjectId, u: &Use) {
        let window = self.limits.window_secs;
        let client = self.client_of(u);
        // a known subject in one lookup (`entry` takes two)
        if let Some(s) = self.map.get_mut(id) {
            if self.track && !self.dirty.contains(id) {
                self.dirty.insert(id.clone());
            }
            return s.learn(u, window, client);
        }
        self.entry(id, u.time.as_secs()).learn(u, window, client);
    }

    /// A use's client key, cached by its (interned) user agent: classifying
    /// a user agent lowercases it, and a few agents make most uses. The cache
    /// holds the agent itself, so its address cannot be reused meanwhile.
    fn client_of(&mut self, u: &Use) -> Option<u64> {
        let ua = u.user_agent.as_ref()?;
        let at = ua.as_ptr() as usize;
        if let Some((s, k)) = self.ua_keys.get(&at) {
            if crate::model::IStr::ptr_eq(s, ua) {
                return Some(*k);
            }
        }
        let k = client_key(u)?;
        if self.ua_keys.len() >= 4096 {
            self.ua_keys.clear();
        }
        self.ua_keys.insert(at, (ua.clone(), k));
        Some(k)
    }

    /// Put a saved subject back (a baseline file, a snapshot topic).
    pub fn restore(&mut self, id: SubjectId, mut s: Subject) {
        s.sanitize();
        let last = s.last;
        self.entry(&id, last);
        self.dirty.remove(&id);
        s.skip_upto = s.upto;
        self.map.insert(id, Box::new(s));
    }

    /// Every subject, sorted by id (for a deterministic snapshot).
    pub fn snapshot(&self) -> Vec<(&SubjectId, &Subject)> {
        let mut v: Vec<_> = self.map.iter().map(|(k, s)| (k, &**s)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Drop subjects unseen for a window before the watermark.
    pub fn expire(&mut self, wm: EventTime) {
        let cut = wm.as_secs().saturating_sub(self.limits.window_secs);
        while self.queue.peek().is_some_and(|Reverse((t, _))| *t < cut) {
            self.pop_oldest(Some(cut));
        }
    }

    /// Pop the oldest queue entry; evict its subject if the entry is live.
    fn pop_oldest(&mut self, cut: Option<i64>) -> bool {
        let Some(Reverse((t, id))) = self.queue.pop() else {
            return false;
        };
        let Some(s) = self.map.get(&id) else {
            return true;
        };
        let last = s.last.max(s.risk.as_ref().map_or(i64::MIN, |r| r.at.as_secs()));
        if last != t {
            self.queue.push(Reverse((last, id)));
            return true;
        }
        match cut {
            Some(c) if t >= c => {
                self.queue.push(Reverse((t, id)));
                return true;
            }
            Some(_) => self.evicted_ttl += 1,
            None => self.evicted_cap += 1,
        }
        self.map.remove(&id);
        if self.track {
            self.dirty.remove(&id);
            self.gone.push(id);
        }
        true
    }
}

#[cfg(test)]
#[path = "subjects_tests.rs"]
mod tests;
