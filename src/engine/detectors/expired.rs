//! expired-use: the gateway accepted (2xx/3xx) a token past its `exp` (plus
//! skew) or before its `nbf` (minus skew).

use std::sync::Arc;

use serde_json::json;

use super::{human_secs, other, Hit};
use crate::model::{Apart, EventTime, TokenInfo, Use};

pub fn check(skew: i64, tok: &TokenInfo, cur: &Arc<Use>) -> Option<Hit> {
    if !(200..400).contains(&cur.status) {
        return None;
    }
    let now = cur.time;
    // past exp the token is nobody's from exp + skew on; before nbf only this use is set apart
    let (what, at, by) = if let Some(exp) = tok.exp.filter(|e| now > EventTime::from_secs(*e).plus_secs(skew)) {
        ("expired", EventTime::from_secs(exp), Apart::since(EventTime::from_secs(exp).plus_secs(skew)))
    } else if let Some(nbf) = tok.nbf.filter(|n| now < EventTime::from_secs(*n).minus_secs(skew)) {
        ("not yet valid", EventTime::from_secs(nbf), Apart::default())
    } else {
        return None;
    };
    let gap = at.secs_until(now);
    Some(Hit {
        message: format!(
            "request accepted (status {}) with a token {what}: {} {} {at}",
            cur.status,
            human_secs(gap),
            if gap >= 0.0 { "after" } else { "before" }
        ),
        evidence: vec![other("accepted use", by, cur)],
        details: super::details(
            json!({ "state": what, "boundary": at.to_rfc3339(), "seconds_off": gap, "skew_seconds": skew }),
        ),
        confidence: 3,
        severity: None,
    })
}
