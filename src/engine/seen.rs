//! The values a subject baseline holds per attribute ([`Seen`]: a decayed
//! count with first and last seen, 24 bytes), the keys of a use's country,
//! network, city and client, and the bounded top-k update.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::ua;
use crate::model::{prefix_of, Use};

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

/// One attribute's values, the first two inline in the subject: most
/// subjects use one or two countries, networks, cities and clients, so
/// learning a use reads and writes the subject's own memory only (a list on
/// the heap is one more cache miss per attribute per event).
pub type Seens = SmallVec<[Seen; 2]>;

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

    /// Forget a place off the globe (a saved baseline is read back).
    pub(super) fn sanitize(&mut self) {
        if !(-9_000..=9_000).contains(&self.at.0) || !(-18_000..=18_000).contains(&self.at.1) {
            self.at = no_place();
        }
    }

    /// A city's coordinates.
    pub fn at(&self) -> Option<(f32, f32)> {
        (self.at.0 != i16::MIN).then(|| (self.at.0 as f32 / 100.0, self.at.1 as f32 / 100.0))
    }
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

pub(super) fn city_key(u: &Use) -> Option<(u64, (f32, f32))> {
    let (lat, lon) = u.geo.as_ref()?.located()?;
    let cell = |x: f64| ((x * 10.0).round() as i64 as u64) & 0xffff_ffff;
    Some(((cell(lat) << 32) | cell(lon), (lat as f32, lon as f32)))
}

pub fn client_key(u: &Use) -> Option<u64> {
    let c = ua::classify(u.user_agent.as_deref()?);
    Some(crate::model::fnv1a(&[c.family.as_bytes(), c.os.as_bytes()], 0))
}

/// `weight` decayed from `from` to `to` (seconds), time constant `window`.
pub(super) fn decay(weight: f32, from: i64, to: i64, window: i64) -> f32 {
    let dt = (to - from).max(0) as f64;
    (weight as f64 * (-dt / window.max(1) as f64).exp()) as f32
}

pub(super) fn observe(list: &mut Seens, key: u64, at: Option<(f32, f32)>, t: i64, cap: usize, window: i64) {
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
    // past the two inline, grow by one (no spare capacity)
    list.reserve_exact(1);
    list.push(Seen::new(key, t, at));
}
