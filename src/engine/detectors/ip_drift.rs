//! ip-drift: the token is seen from a new country / ASN / network prefix
//! compared with its first use. Changes between two located uses closer than
//! `min_distance_km` are ignored (wifi <-> cellular in one city), and
//! prefixes are compared only within one address family (a v4/v6 flip of a
//! dual-stack client is not drift by itself).

use std::sync::Arc;

use serde_json::json;

use super::{haversine_km, other, owner, place_name, Hit};
use crate::engine::state::TokenState;
use crate::model::{Apart, Use};
use crate::rules::{Exceptions, IpDriftParams, Place};

pub use crate::model::prefix_of;

/// The key of a use's place for concurrent-use; the top two bits name the
/// kind of place, so keys of different kinds never meet.
pub fn place_key(u: &Use, by: Place) -> Option<u64> {
    const LOW: u64 = (1 << 61) - 1;
    let fold = |x: u128| ((x as u64) ^ ((x >> 64) as u64).rotate_left(17)) & LOW;
    let ip = u.ip?;
    let v = match by {
        Place::Ip => fold(prefix_of(ip, 32, 128).1),
        Place::Prefix => fold(prefix_of(ip, 24, 48).1),
        Place::Asn => match u.geo.as_ref().and_then(|g| g.asn) {
            Some(a) => a as u64,
            // no ASN known: the /24 (/48) stands in, in its own namespace
            None => fold(prefix_of(ip, 24, 48).1) | (1 << 61),
        },
    };
    Some(v | (place_tag(by) << 62))
}

/// The kind bits of a place key.
pub fn place_tag(by: Place) -> u64 {
    match by {
        Place::Ip => 0,
        Place::Prefix => 1,
        Place::Asn => 2,
    }
}

pub fn check(p: &IpDriftParams, exc: &Exceptions, st: &TokenState, cur: &Arc<Use>) -> Option<Hit> {
    // against the first use in the open (a first use behind a VPN says
    // nothing of where the owner is); a use behind one is anonymizer-drift's
    let base = st.drift_base()?;
    if exc.source(base) || cur.hides_place() {
        return None;
    }
    let (bg, cg) = (base.geo.as_deref(), cur.geo.as_deref());
    if let (Some(a), Some(b)) = (bg.and_then(|g| g.located()), cg.and_then(|g| g.located())) {
        let near = haversine_km(a, b) - bg.map_or(0.0, |g| g.radius_km) - cg.map_or(0.0, |g| g.radius_km);
        if near <= p.min_distance_km {
            return None;
        }
    }
    let mut changed = Vec::new();
    for a in &p.attributes {
        let diff = match a.as_str() {
            "country" => differs(bg.and_then(|g| g.country.as_deref()), cg.and_then(|g| g.country.as_deref())),
            "asn" => differs(bg.and_then(|g| g.asn), cg.and_then(|g| g.asn)),
            "prefix" => match (base.ip, cur.ip) {
                (Some(x), Some(y)) => {
                    let (fx, px) = prefix_of(x, p.prefix_v4, p.prefix_v6);
                    let (fy, py) = prefix_of(y, p.prefix_v4, p.prefix_v6);
                    fx == fy && px != py
                }
                _ => false,
            },
            _ => false,
        };
        if diff {
            changed.push(a.clone());
        }
    }
    if changed.is_empty() {
        return None;
    }
    // a new country is a new place; a new ASN or prefix a new network
    let by =
        changed.iter().fold(Apart::default(), |b, a| b.or(if a == "country" { Apart::PLACE } else { Apart::NETWORK }));
    Some(Hit {
        message: format!(
            "token first used from {}, now from {} ({} changed)",
            place_name(base),
            place_name(cur),
            changed.join(", ")
        ),
        evidence: vec![owner("first use", &st.drift_base_arc()?), other("this use", by, cur)],
        details: super::details(json!({ "changed": changed })),
        confidence: if changed.len() > 1 { 3 } else { 2 },
        severity: None,
    })
}

fn differs<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}
