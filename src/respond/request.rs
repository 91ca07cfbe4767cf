//! A revocation request as the responder reads it (the JSON of
//! `output::revocation_request`, from the outbox topic or a replay), and the
//! deterministic id of each action taken for it: the same request delivered
//! twice carries the same `webhook-id` / SET `jti`, so receivers deduplicate.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What is revoked.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    Token {
        iss: String,
        jti: String,
    },
    /// Every token of the subject issued before the cutoff (epoch seconds).
    Subject {
        iss: String,
        sub: String,
        before: i64,
    },
    /// One token named by the base64url SHA-256 of its raw form (a token
    /// whose claims cannot be believed).
    Fingerprint {
        sha256: String,
    },
    /// Not a revocation: a vouched subject's risk level changed (the
    /// step-up signal: the next sign-in demands MFA at HIGH).
    Risk {
        iss: String,
        sub: String,
        /// `LOW`, `MEDIUM`, `HIGH`.
        level: String,
        /// The level before (`NONE` below LOW).
        previous: String,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub scope: Scope,
    pub sub: Option<String>,
    pub client_id: Option<String>,
    pub exp: Option<i64>,
    /// The token's claims are vouched for (signature or verifying gateway):
    /// only then may a hook act on its subject (password reset).
    pub vouched: bool,
    pub finding_uid: String,
    pub rule: String,
    pub reason: String,
    pub idempotency_key: String,
    /// Approved by a person (a parked request sent back): not budgeted.
    pub approved_by: Option<String>,
    /// The request as received, for the webhook payload and the audit.
    pub raw: Value,
}

#[derive(Deserialize)]
struct In {
    scope: String,
    #[serde(default)]
    iss: String,
    jti: Option<String>,
    sha256: Option<String>,
    #[serde(default)]
    vouched: bool,
    sub: Option<String>,
    client_id: Option<String>,
    revoked_before: Option<String>,
    exp: Option<i64>,
    finding_uid: String,
    rule: String,
    #[serde(default)]
    reason: String,
    idempotency_key: String,
    approved_by: Option<String>,
    current_level: Option<String>,
    previous_level: Option<String>,
}

impl Request {
    pub fn parse(bytes: &[u8]) -> Result<Request, super::RespondError> {
        Self::parse_text(bytes).map_err(super::RespondError::BadRequest)
    }

    fn parse_text(bytes: &[u8]) -> Result<Request, String> {
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| crate::ingest::scrub(&e.to_string()))?;
        let r: In = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
        let scope = match (r.scope.as_str(), r.jti, r.sub.clone(), r.revoked_before) {
            ("fingerprint", ..) => match r.sha256 {
                Some(sha256)
                    if sha256.len() == 43
                        && sha256.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    Scope::Fingerprint { sha256 }
                }
                _ => return Err("a \"fingerprint\" request without a base64url SHA-256".into()),
            },
            ("risk", _, Some(sub), _) => {
                let level = |l: &Option<String>, none: bool| match l.as_deref() {
                    Some(x @ ("LOW" | "MEDIUM" | "HIGH")) => Ok(x.to_string()),
                    Some("NONE") | None if none => Ok("NONE".to_string()),
                    other => Err(format!("a \"risk\" request with level {other:?} (LOW, MEDIUM or HIGH)")),
                };
                if !r.vouched {
                    return Err("a \"risk\" request for a subject nobody vouched for".into());
                }
                let (level, previous) = (level(&r.current_level, false)?, level(&r.previous_level, true)?);
                Scope::Risk { iss: r.iss, sub, level, previous }
            }
            ("token", Some(jti), _, _) => Scope::Token { iss: r.iss, jti },
            ("subject", _, Some(sub), Some(b)) => {
                let before = crate::model::EventTime::parse(&b).map_err(|e| e.to_string())?.as_secs();
                Scope::Subject { iss: r.iss, sub, before }
            }
            (s, ..) => return Err(format!("a {s:?} request without its jti, or sub and revoked_before")),
        };
        let fingerprint = matches!(scope, Scope::Fingerprint { .. });
        Ok(Request {
            scope,
            // a fingerprint request names nobody, whatever it carries
            sub: r.sub.filter(|_| !fingerprint),
            vouched: r.vouched && !fingerprint,
            client_id: r.client_id.filter(|_| !fingerprint),
            exp: r.exp,
            finding_uid: r.finding_uid,
            rule: r.rule,
            reason: r.reason,
            idempotency_key: r.idempotency_key,
            approved_by: r.approved_by,
            raw,
        })
    }

    pub fn iss(&self) -> &str {
        match &self.scope {
            Scope::Token { iss, .. } | Scope::Subject { iss, .. } | Scope::Risk { iss, .. } => iss,
            Scope::Fingerprint { .. } => "",
        }
    }

    /// The deterministic id of one action (hook + kind) for this request.
    pub fn action_id(&self, action: &str) -> String {
        uuid_like(&Sha256::digest(format!("{}\0{action}", self.idempotency_key)))
    }
}

/// A UUID-shaped rendering of a digest (version nibble 8: custom).
pub fn uuid_like(d: &[u8]) -> String {
    let h = hex::encode(&d[..16]);
    format!("{}-{}-8{}-{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_scopes_and_ids_are_stable() {
        let t = br#"{"scope":"token","iss":"https://idp","jti":"j1","sub":"alice","exp":1790000000,"finding_uid":"f","rule":"impossible-travel","reason":"r","idempotency_key":"f:token","key":"https://idp|j1","requested_at":"2026-11-02T08:00:00Z","client_id":null}"#;
        let r = Request::parse(t).unwrap();
        assert_eq!(r.scope, Scope::Token { iss: "https://idp".into(), jti: "j1".into() });
        assert_eq!(r.action_id("redis"), Request::parse(t).unwrap().action_id("redis"));
        assert_ne!(r.action_id("redis"), r.action_id("ssf"));
        let s = br#"{"scope":"subject","iss":"https://idp","sub":"bob","revoked_before":"2026-11-02T08:00:00Z","finding_uid":"f","rule":"x","idempotency_key":"f:subject"}"#;
        assert!(matches!(Request::parse(s).unwrap().scope, Scope::Subject { before: 1793606400, .. }));
        assert!(Request::parse(br#"{"scope":"token","iss":"x","finding_uid":"f","rule":"x","idempotency_key":"k"}"#)
            .is_err());
        assert!(Request::parse(b"not json").is_err());
    }
}
