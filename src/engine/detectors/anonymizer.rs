//! anonymizer-drift: a token changes sides of an anonymizer (VPN, Tor, a
//! proxy, a relay) during its life: first used in the open and later
//! through one, or first through one and later in the open (a token of a
//! VPN or Private Relay user replayed from the thief's own network). Travel
//! to or from an anonymizer is not judged as impossible travel (its exit
//! says nothing of where the user is); the change itself is this signal.

use std::sync::Arc;

use serde_json::json;

use super::{other, owner, place_name, Hit};
use crate::engine::state::TokenState;
use crate::model::{anon, Apart, Use};

pub fn check(st: &TokenState, cur: &Arc<Use>) -> Option<Hit> {
    let first = &st.first;
    if first.anonymized() == cur.anonymized() {
        return None;
    }
    let bits = |u: &Use| u.geo.as_ref().map_or(0, |g| g.anonymizer);
    let into = cur.anonymized();
    let kinds = anon::names(if into { bits(cur) } else { bits(first) });
    let message = if into {
        format!(
            "token first used from {}, now through an anonymizer ({}) at {}",
            place_name(first),
            kinds.join(", "),
            place_name(cur)
        )
    } else {
        format!(
            "token first used through an anonymizer ({}) at {}, now in the open from {}",
            kinds.join(", "),
            place_name(first),
            place_name(cur)
        )
    };
    Some(Hit {
        message,
        evidence: vec![owner("first use", &st.first_arc()), other("this use", Apart::NETWORK, cur)],
        details: super::details(json!({ "anonymizer": kinds, "direction": if into { "into" } else { "out" } })),
        confidence: 2,
        severity: None,
    })
}
