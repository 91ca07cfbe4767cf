//! concurrent-use: one token used from at least N distinct places (IPs,
//! prefixes or ASNs) inside a sliding window. The engine keeps the latest use
//! per place inside the longest window; this detector counts them.

use std::sync::Arc;

use serde_json::json;

use super::ip_drift::place_tag;
use super::{ev, place_name, Hit};
use crate::engine::state::TokenState;
use crate::model::{Apart, Side, Use};
use crate::rules::{Exceptions, Place};

pub fn check(min: usize, by: Place, window: i64, exc: &Exceptions, st: &TokenState, cur: &Arc<Use>) -> Option<Hit> {
    let from = cur.time.minus_secs(window);
    let key = super::place_key(cur, by)?;
    let counted = |(k, e): &&(u64, Option<Arc<Use>>)| {
        let u = st.recent_use(e);
        *k >> 62 == place_tag(by) && *k != key && u.time >= from && u.time <= cur.time && !exc.source(u)
    };
    if st.recent.iter().filter(counted).count() + 1 < min {
        return None;
    }
    let mut places: Vec<Arc<Use>> =
        st.recent.iter().filter(counted).map(|(_, e)| e.clone().unwrap_or_else(|| st.first_arc())).collect();
    places.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.source.cmp(&b.source)));
    let names: Vec<String> = places.iter().map(|u| place_name(u)).chain([place_name(cur)]).collect();
    // the place the token was first used from is the owner's; the others are
    // the other side's, set apart by their network
    let home = super::place_key(&st.first, by);
    let side = |u: &Use| {
        if super::place_key(u, by) == home {
            Side::Owner
        } else {
            Side::Other(Apart::NETWORK)
        }
    };
    let mut evidence: Vec<_> = places.iter().map(|u| ev("concurrent use", side(u), u)).collect();
    evidence.push(ev("this use", side(cur), cur));
    let by_name = match by {
        Place::Ip => "IPs",
        Place::Prefix => "network prefixes",
        Place::Asn => "ASNs",
    };
    Some(Hit {
        message: format!(
            "token used from {} distinct {by_name} within {}: {}",
            names.len(),
            super::human_secs(window as f64),
            names.join("; ")
        ),
        evidence,
        details: super::details(json!({ "distinct": names.len(), "window_seconds": window, "by": by_name })),
        confidence: if names.len() > min { 3 } else { 2 },
        severity: None,
    })
}
