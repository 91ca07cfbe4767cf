//! Revocation requests: what the hooks act on. Names the token (`iss`+`jti`,
//! or `iss`+`sub` with a cutoff), carries `exp` so a deny-list entry can
//! expire with the token, and an idempotency key derived from the finding.

use serde_json::{json, Value};

use crate::model::{Finding, Response, TokenId};

/// The request for a finding whose rule asks to revoke; `None` otherwise, or
/// when the token cannot be named (a fingerprint without a subject).
pub fn revocation_request(f: &Finding) -> Option<Value> {
    let t = &f.token;
    let base = json!({
        "finding_uid": f.uid,
        "rule": &*f.rule_id,
        "reason": f.message,
        "requested_at": f.time.to_rfc3339(),
        "exp": t.exp,
        "sub": t.sub.as_deref(),
        "client_id": t.client_id.as_deref(),
    });
    let mut v = match (f.response, &t.id) {
        (Response::Alert, _) => return None,
        (Response::RevokeToken, TokenId::Jti { iss, jti }) => json!({
            "scope": "token", "iss": &**iss, "jti": &**jti, "key": format!("{iss}|{jti}"),
        }),
        (_, _) => {
            let sub = t.sub.as_deref()?;
            let iss = t.iss.as_deref().unwrap_or("");
            json!({
                "scope": "subject", "iss": iss, "sub": sub,
                "revoked_before": f.time.to_rfc3339(), "key": format!("{iss}|sub:{sub}"),
            })
        }
    };
    let idem = format!("{}:{}", f.uid, v["scope"].as_str().unwrap_or(""));
    v.as_object_mut()?.extend(base.as_object()?.clone());
    v["idempotency_key"] = json!(idem);
    Some(v)
}
