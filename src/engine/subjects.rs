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
use super::ua;
use crate::model::{prefix_of, EventTime, TokenInfo, Use};

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
    Some((tok.iss.clone().unwrap_or_else(|| "".into()), tok.sub.clone()?))
}

/// One value of one attribute: 24 bytes (times as seconds since 2020, a
/// city's coordinates in hundredths of a degree).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Seen {
    pub key: u64,
    /// Decayed count at `last`.
    pub weight: f32,
    first: u32,
    last: u32,
    /// A city's coordinates (`i16::MIN`: none).
    #[serde(default = "no_place")]
    at: (i16, i16),
}

/// 2020-01-01T00:00:00Z: the epoch of [`Seen`]'s times.
const EPOCH: i64 = 1_577_836_800;

fn no_place() -> (i16, i16) {
    (i16::MIN, i16::MIN)
}

impl Seen {
    fn new(key: u64, t: i64, at: Option<(f32, f32)>) -> Self {
        let c = |x: f32| (x * 100.0).round().clamp(-18_000.0, 18_000.0) as i16;
        let t = Self::pack(t);
        Seen { key, weight: 1.0, first: t, last: t, at: at.map_or(no_place(), |(la, lo)| (c(la), c(lo))) }
    }

    fn pack(t: i64) -> u32 {
        (t - EPOCH).clamp(0, u32::MAX as i64) as u32
    }

    /// First and last seen, epoch seconds.
    pub fn first(&self) -> i64 {
        EPOCH + self.first as i64
    }

    pub fn last(&self) -> i64 {
        EPOCH + self.last as i64
    }

    /// A city's coordinates.
    pub fn at(&self) -> Option<(f32, f32)> {
        (self.at.0 != i16::MIN).then(|| (self.at.0 as f32 / 100.0, self.at.1 as f32 / 100.0))
    }
}

/// What the engine knows of one subject's normal.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Subject {
    /// Epoch seconds of the first and last learned use.
    pub first: i64,
    pub last: i64,
    pub uses: u32,
    pub countries: Vec<Seen>,
    pub networks: Vec<Seen>,
    pub cities: Vec<Seen>,
    pub clients: Vec<Seen>,
    /// New places already reported (country and network keys): one alert
    /// per subject per new place per window, not one per token.
    #[serde(default)]
    pub reported: Vec<Seen>,
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

/// The keys of a use's attributes.
pub fn country_key(u: &Use) -> Option<u64> {
    let c = u.geo.as_ref()?.country.as_deref()?;
    (c.len() <= 8).then(|| c.bytes().fold(0u64, |k, b| (k << 8) | b.to_ascii_uppercase() as u64))
}

/// A country key back to its code.
pub fn country_name(k: u64) -> String {
    let b: Vec<u8> = k.to_be_bytes().into_iter().filter(|b| *b != 0).collect();
    String::from_utf8_lossy(&b).into_owned()
}

/// The ASN, or the /24 (/48) without one; the top bits name which.
pub fn network_key(u: &Use) -> Option<u64> {
    if let Some(a) = u.geo.as_ref().and_then(|g| g.asn) {
        return Some((1 << 62) | a as u64);
    }
    let (fam, bits) = prefix_of(u.ip?, 24, 48);
    Some(if fam == 4 { (2 << 62) | (bits as u64 >> 8) } else { (3 << 62) | (bits >> 80) as u64 })
}

fn city_key(u: &Use) -> Option<(u64, (f32, f32))> {
    let (lat, lon) = u.geo.as_ref()?.located()?;
    let cell = |x: f64| ((x * 10.0).round() as i64 as u64) & 0xffff_ffff;
    Some(((cell(lat) << 32) | cell(lon), (lat as f32, lon as f32)))
}

pub fn client_key(u: &Use) -> Option<u64> {
    let c = ua::classify(u.user_agent.as_deref()?);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in c.family.bytes().chain([0]).chain(c.os.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    Some(h)
}

/// `weight` decayed from `from` to `to` (seconds), time constant `window`.
fn decay(weight: f32, from: i64, to: i64, window: i64) -> f32 {
    let dt = (to - from).max(0) as f64;
    (weight as f64 * (-dt / window.max(1) as f64).exp()) as f32
}

fn observe(list: &mut Vec<Seen>, key: u64, at: Option<(f32, f32)>, t: i64, cap: usize, window: i64) {
    list.retain(|s| s.last() >= t - window);
    if let Some(s) = list.iter_mut().find(|s| s.key == key) {
        s.weight = decay(s.weight, s.last(), t, window) + 1.0;
        s.last = s.last.max(Seen::pack(t));
        return;
    }
    if list.len() >= cap {
        // the weakest now (ties: the least recent, then the key) makes room
        let weakest = list
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| {
                let (wa, wb) = (decay(a.weight, a.last(), t, window), decay(b.weight, b.last(), t, window));
                wa.total_cmp(&wb).then(a.last.cmp(&b.last)).then(a.key.cmp(&b.key))
            })
            .map(|(i, _)| i);
        if let Some(i) = weakest {
            list.remove(i);
        }
    }
    // grow by one: most lists hold one or two values (no spare capacity)
    list.reserve_exact(1);
    list.push(Seen::new(key, t, at));
}

impl Subject {
    /// Learn one use.
    pub fn learn(&mut self, u: &Use, window: i64) {
        self.upto = self.upto.max(u.time);
        let t = u.time.as_secs();
        if self.uses == 0 {
            self.first = t;
        }
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        self.uses = self.uses.saturating_add(1);
        if let Some(k) = country_key(u) {
            observe(&mut self.countries, k, None, t, TOP_COUNTRIES, window);
        }
        if let Some(k) = network_key(u) {
            observe(&mut self.networks, k, None, t, TOP_NETWORKS, window);
        }
        if let Some((k, at)) = city_key(u) {
            observe(&mut self.cities, k, Some(at), t, TOP_CITIES, window);
            if self.last_located.is_none_or(|(lt, ..)| lt <= t) {
                self.last_located = Some((t, at.0, at.1));
            }
        }
        if let Some(k) = client_key(u) {
            observe(&mut self.clients, k, None, t, TOP_CLIENTS, window);
        }
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

    /// May events of `id` at `t` be folded into its state (not in a restored snapshot)?
    pub fn folds(&self, id: &SubjectId, t: EventTime) -> bool {
        self.map.get(id).is_none_or(|s| t > s.skip_upto)
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
        self.entry(id, u.time.as_secs()).learn(u, window);
    }

    /// Put a saved subject back (a baseline file, a snapshot topic).
    pub fn restore(&mut self, id: SubjectId, mut s: Subject) {
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
