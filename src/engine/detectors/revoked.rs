//! revoked-use: a token used after its revocation (by jti, or by a subject's
//! "revoked before" cutoff against `iat`). Says how long after.

use std::sync::Arc;

use serde_json::json;

use super::{human_secs, other, Hit};
use crate::model::{Apart, TokenInfo, Use};
use crate::model::{RevocationView, Revoked};

pub fn check(grace: i64, only_accepted: bool, view: &RevocationView, tok: &TokenInfo, cur: &Arc<Use>) -> Option<Hit> {
    if only_accepted && !(200..400).contains(&cur.status) {
        return None;
    }
    let r = view.check(tok, cur.time.minus_secs(grace))?;
    let (at, how) = match r {
        Revoked::Token { at } => (at, "token revoked"),
        Revoked::Subject { before } => (before, "all tokens of the subject issued before the cutoff revoked"),
    };
    let after = at.secs_until(cur.time);
    let accepted = (200..400).contains(&cur.status);
    Some(Hit {
        message: format!(
            "{how} at {at}; used {} after revocation (status {}{})",
            human_secs(after),
            cur.status,
            if accepted { ", accepted by the gateway" } else { "" }
        ),
        evidence: vec![other("use after revocation", Apart::since(at), cur)],
        details: super::details(
            json!({ "revoked_at": at.to_rfc3339(), "seconds_after_revocation": after, "accepted": accepted }),
        ),
        confidence: 3,
        severity: None,
    })
}
