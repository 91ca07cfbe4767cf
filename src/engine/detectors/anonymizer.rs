//! anonymizer-drift: a token first used in the open is used through an
//! anonymizer (VPN, Tor, a proxy, a relay) later in its life. Travel to or
//! from an anonymizer is not judged as impossible travel (its exit says
//! nothing of where the user is); the change itself is this signal.

use std::sync::Arc;

use serde_json::json;

use super::{other, owner, place_name, Hit};
use crate::engine::state::TokenState;
use crate::model::{anon, Apart, Use};

pub fn check(st: &TokenState, cur: &Arc<Use>) -> Option<Hit> {
    let first = &st.first;
    if first.anonymized() || !cur.anonymized() {
        return None;
    }
    let kinds = anon::names(cur.geo.as_ref().map_or(0, |g| g.anonymizer));
    Some(Hit {
        message: format!(
            "token first used from {}, now through an anonymizer ({}) at {}",
            place_name(first),
            kinds.join(", "),
            place_name(cur)
        ),
        evidence: vec![owner("first use", &st.first_arc()), other("this use", Apart::NETWORK, cur)],
        details: super::details(json!({ "anonymizer": kinds })),
        confidence: 2,
        severity: None,
    })
}
