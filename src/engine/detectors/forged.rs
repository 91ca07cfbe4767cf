//! forged-token: the signature fails, the kid is unknown, or the algorithm is
//! none or not allowed. A different alarm from a stolen token: someone is
//! minting tokens, not replaying one.

use std::sync::Arc;

use serde_json::json;

use super::{ev, Hit};
use crate::model::{TokenInfo, Use, Verdict};

pub fn check(verdicts: &[Verdict], tok: &TokenInfo, cur: &Arc<Use>) -> Option<Hit> {
    if !verdicts.contains(&tok.verdict) {
        return None;
    }
    let accepted = (200..400).contains(&cur.status);
    Some(Hit {
        message: format!(
            "token failed verification: {} (alg {}, kid {}); request status {}{}",
            tok.verdict.as_str(),
            tok.alg.as_deref().unwrap_or("-"),
            tok.kid.as_deref().unwrap_or("-"),
            cur.status,
            if accepted { ": ACCEPTED by the gateway" } else { "" }
        ),
        evidence: vec![ev("use of the forged token", cur)],
        details: super::details(
            json!({ "verdict": tok.verdict.as_str(), "alg": tok.alg.as_deref(), "kid": tok.kid.as_deref(), "accepted": accepted }),
        ),
        confidence: 3,
    })
}
