//! Revocation requests: what the hooks act on, built in one place for every
//! driver. A request names what is revoked, and how widely is decided by how
//! far the token's claims can be believed:
//!
//! | token | rule says `revoke` | rule says `revoke-subject` |
//! |---|---|---|
//! | vouched (valid signature, or a verifying gateway's claims) | `token` (`iss`+`jti`) | `subject` (`iss`+`sub`, cutoff) |
//! | logged claims, gateway not marked as verifying | none (no raw bytes to name) | none |
//! | raw and unverified, or failed verification | `fingerprint` (SHA-256 of the token) | `fingerprint` |
//!
//! so a forged token's `sub`, `iss` or `jti` never names anyone but itself.
//! Requests carry `exp` (a deny-list entry expires with the token), the
//! finding uid, the rule, the reason, an idempotency key, and a record key
//! that no two identities share.

use serde_json::{json, Value};

use crate::model::{escape_part, Finding, Origin, Response, RiskScope, TokenId};

/// What a request revokes.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope<'a> {
    Token { iss: &'a str, jti: &'a str },
    Subject { iss: &'a str, sub: &'a str },
    Fingerprint { sha256: &'a str },
}

/// How widely the finding's response may reach (`None`: nothing to revoke).
pub fn scope(f: &Finding) -> Option<Scope<'_>> {
    let t = &f.token;
    if f.response == Response::Alert {
        return None;
    }
    let iss = t.iss.as_deref().unwrap_or("");
    if t.verdict.is_forged() || (t.origin == Origin::Raw && !t.vouched) {
        return t.sha256.as_deref().map(|sha256| Scope::Fingerprint { sha256 });
    }
    let subject = t.vouched.then_some(()).and(t.sub.as_deref()).map(|sub| Scope::Subject { iss, sub });
    match (&t.id, f.response) {
        (_, Response::RevokeSubject) if subject.is_some() => subject,
        (TokenId::Jti { iss, jti }, _) => Some(Scope::Token { iss, jti }),
        // a vouched token without jti: by subject (DESIGN), else its own hash
        _ => subject.or_else(|| t.sha256.as_deref().map(|sha256| Scope::Fingerprint { sha256 })),
    }
}

/// The record key of a scope (the compacted requests topic): `iss|jti`,
/// `iss|sub|<sub>`, or `fp:sha256:<hash>`, each part with `%`, `|` and
/// control characters percent-encoded, so `a|b` + `c` and `a` + `b|c` stay
/// apart and the shapes cannot be confused (two parts, three, none).
pub fn scope_key(s: &Scope<'_>) -> String {
    match s {
        Scope::Token { iss, jti } => format!("{}|{}", escape_part(iss), escape_part(jti)),
        Scope::Subject { iss, sub } => format!("{}|sub|{}", escape_part(iss), escape_part(sub)),
        Scope::Fingerprint { sha256 } => format!("fp:sha256:{}", escape_part(sha256)),
    }
}

/// The record of a vouched subject's risk change (a `risk-level-change`
/// finding of subject scope): what the step-up hooks act on (a Redis risk
/// key, a CAEP `risk-level-change` SET, a `tokenhound.risk.changed`
/// webhook). Keyed `iss|risk|sub` on the compacted requests topic, so the
/// latest level of each subject is kept.
pub fn risk_signal(f: &Finding) -> Option<Value> {
    let r = f.risk.as_deref()?;
    let RiskScope::Subject { iss, sub } = &r.scope else { return None };
    if !f.token.trusted() {
        return None; // never from a token whose claims are the sender's words
    }
    Some(json!({
        "scope": "risk", "iss": &**iss, "sub": &**sub,
        "current_level": r.current.as_str(), "previous_level": r.previous.as_str(),
        "score": (r.score * 10.0).round() / 10.0,
        "key": format!("{}|risk|{}", escape_part(iss), escape_part(sub)),
        "finding_uid": f.uid, "rule": &*f.rule_id, "reason": f.message,
        "requested_at": f.time.to_rfc3339(), "vouched": true,
        "client_id": f.token.client_id.as_deref(),
        "contributing": r.contributing.iter().map(|c| json!({"finding_uid": c.finding_uid, "rule": &*c.rule_id})).collect::<Vec<_>>(),
        "idempotency_key": format!("{}:risk", f.uid),
    }))
}

/// The request for a finding whose rule asks to revoke (or a subject's risk
/// change, [`risk_signal`]); `None` otherwise, or when nothing can be named.
pub fn revocation_request(f: &Finding) -> Option<Value> {
    if f.risk.as_ref().is_some_and(|r| matches!(r.scope, RiskScope::Subject { .. })) {
        return risk_signal(f);
    }
    let t = &f.token;
    let sc = scope(f)?;
    let mut v = match &sc {
        Scope::Token { iss, jti } => json!({ "scope": "token", "iss": iss, "jti": jti }),
        Scope::Subject { iss, sub } => json!({
            "scope": "subject", "iss": iss, "sub": sub, "revoked_before": f.time.to_rfc3339(),
        }),
        Scope::Fingerprint { sha256 } => json!({ "scope": "fingerprint", "sha256": sha256 }),
    };
    let o = v.as_object_mut()?;
    o.insert("key".into(), json!(scope_key(&sc)));
    o.insert("finding_uid".into(), json!(f.uid));
    o.insert("rule".into(), json!(&*f.rule_id));
    o.insert("reason".into(), json!(f.message));
    o.insert("requested_at".into(), json!(f.time.to_rfc3339()));
    o.insert("exp".into(), json!(t.exp));
    o.insert("vouched".into(), json!(t.vouched));
    if !matches!(sc, Scope::Fingerprint { .. }) {
        // who the token belongs to, for the never-revoke lists and the
        // password-reset signal (a fingerprint request names nobody)
        o.entry("sub").or_insert(json!(t.sub.as_deref()));
        o.insert("client_id".into(), json!(t.client_id.as_deref()));
    }
    let scope_name = o["scope"].as_str().unwrap_or("").to_string();
    o.insert("idempotency_key".into(), json!(format!("{}:{scope_name}", f.uid)));
    Some(v)
}
