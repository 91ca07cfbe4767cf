//! forged-token: the signature fails, the kid is unknown, the algorithm is
//! none or not allowed, or the token is malformed (undecodable, oddly typed,
//! an unknown `crit`). A different alarm from a stolen token: someone is
//! minting or altering tokens, not replaying one. Accepted by the gateway it
//! is the rule's level (critical: the gateway let a forgery through);
//! rejected, the rule's `rejected_level`. The claims named in the message
//! are the sender's words and are marked as such.

use std::sync::Arc;

use serde_json::json;

use super::{other, Hit};
use crate::model::{Apart, Severity, TokenInfo, Use, Verdict};

pub fn check(verdicts: &[Verdict], rejected: Severity, tok: &TokenInfo, cur: &Arc<Use>) -> Option<Hit> {
    if !verdicts.contains(&tok.verdict) {
        return None;
    }
    let accepted = (200..400).contains(&cur.status);
    let claimed = match (tok.sub.as_deref(), tok.iss.as_deref()) {
        (Some(s), Some(i)) => format!("; claims (unverified) sub {s:?} of {i:?}"),
        (Some(s), None) => format!("; claims (unverified) sub {s:?}"),
        _ => String::new(),
    };
    Some(Hit {
        message: format!(
            "token failed verification ({}: {}); alg {}, kid {}{claimed}; request status {}{}",
            tok.verdict.as_str(),
            tok.detail.as_deref().unwrap_or("-"),
            tok.alg.as_deref().unwrap_or("-"),
            tok.kid.as_deref().unwrap_or("-"),
            cur.status,
            if accepted { ": ACCEPTED by the gateway" } else { "" }
        ),
        evidence: vec![other("use of the forged token", Apart::since(cur.time), cur)],
        details: super::details(json!({
            "verdict": tok.verdict.as_str(),
            "reason": tok.detail.as_deref(),
            "alg": tok.alg.as_deref(),
            "kid": tok.kid.as_deref(),
            "accepted": accepted,
            "claimed_sub": tok.sub.as_deref(),
            "claimed_iss": tok.iss.as_deref(),
            "claimed_jti": tok.jti.as_deref(),
        })),
        confidence: 3,
        severity: (!accepted).then_some(rejected),
    })
}
