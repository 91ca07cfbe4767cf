//! The OpenID Shared Signals transmitter: CAEP `session-revoked` Security
//! Event Tokens (RFC 8417: `typ: secevent+jwt`, `iss`, `aud`, `iat`, `jti`,
//! `txn` = finding uid, `sub_id` of format `jwt_id` {iss, jti} — or `iss_sub`
//! for a subject-wide revocation —, exactly one event, no `exp`), signed
//! ES256 or RS256, pushed per RFC 8935 (`application/secevent+jwt`, 202);
//! and, for the password step, a RISC `credential-compromise` event naming
//! the subject. The transmitter's JWKS and `/.well-known/ssf-configuration`
//! are served by the responder so receivers can verify.

use std::str::FromStr;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::http::{agent, post, Retry};
use super::request::{Request, Scope};
use super::{ActionResult, Hook, Outcome, RespondError};
use crate::settings::RawSsf;

pub const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const RISK_LEVEL_CHANGE: &str = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change";
pub const CREDENTIAL_COMPROMISE: &str = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise";

pub struct SsfHook {
    cfg: RawSsf,
    key: EncodingKey,
    header: Header,
    jwks: Value,
    agent: ureq::Agent,
    password_reset: bool,
}

impl SsfHook {
    pub fn new(cfg: RawSsf, timeout_secs: u64, password_reset: bool) -> Result<Self, RespondError> {
        let setup = RespondError::Setup;
        let alg = Algorithm::from_str(cfg.alg.as_deref().unwrap_or("ES256"))
            .map_err(|e| setup(format!("respond.ssf.alg: {e}")))?;
        let pem = std::fs::read(&cfg.signing_key)
            .map_err(|e| setup(format!("cannot read respond.ssf.signing_key {}: {e}", cfg.signing_key.display())))?;
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .map_err(|_| {
            setup(format!("respond.ssf.signing_key {} is not a {alg:?} private key", cfg.signing_key.display()))
        })?;
        let kid = cfg.kid.clone().unwrap_or_else(|| "tokenhound-ssf-1".into());
        let mut jwk =
            Jwk::from_encoding_key(&key, alg).map_err(|e| setup(format!("cannot publish the signing key: {e}")))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).map_err(|e| setup(e.to_string()))?;
        let mut header = Header::new(alg);
        header.typ = Some("secevent+jwt".into());
        header.kid = Some(kid);
        Ok(SsfHook { cfg, key, header, jwks, agent: agent(timeout_secs), password_reset })
    }

    /// The public keys receivers verify SETs with.
    pub fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// SSF transmitter metadata.
    pub fn configuration(&self) -> Value {
        let base = self.cfg.issuer.trim_end_matches('/');
        json!({
            "spec_version": "1_0",
            "issuer": self.cfg.issuer,
            "jwks_uri": format!("{base}/jwks.json"),
            "delivery_methods_supported": ["urn:ietf:rfc:8935"],
            "default_subjects": "NONE",
        })
    }

    /// One signed SET with one event.
    pub fn set(
        &self,
        jti: &str,
        txn: &str,
        sub_id: Value,
        event: &str,
        body: Value,
        now: i64,
    ) -> Result<String, String> {
        let claims = json!({
            "iss": self.cfg.issuer,
            "aud": self.cfg.audience,
            "iat": now,
            "jti": jti,
            "txn": txn,
            "sub_id": sub_id,
            "events": { event: body },
        });
        encode(&self.header, &claims, &self.key).map_err(|e| format!("cannot sign the SET: {e}"))
    }

    fn push(&self, jwt: &str, id: &str, retry: &Retry, sleep: &mut dyn FnMut(std::time::Duration)) -> Outcome {
        let mut headers = vec![("accept", "application/json".to_string())];
        if let Some(a) = &self.cfg.authorization {
            headers.push(("authorization", a.expose().to_string()));
        }
        let d = retry.run(
            id,
            || {
                post(
                    &self.agent,
                    &self.cfg.endpoint,
                    "application/secevent+jwt",
                    &headers,
                    jwt.as_bytes(),
                    rfc8935_error,
                )
            },
            sleep,
        );
        Outcome::from(d)
    }
}

/// RFC 8935 error response: `{"err": "...", "description": "..."}`.
fn rfc8935_error(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("err").is_some() => format!(
            "receiver error {}: {}",
            v["err"].as_str().unwrap_or("?"),
            crate::ingest::scrub(v["description"].as_str().unwrap_or(""))
        ),
        _ => "receiver refused the SET".into(),
    }
}

impl Hook for SsfHook {
    fn name(&self) -> &'static str {
        "ssf"
    }

    fn revoke(
        &mut self,
        r: &Request,
        now: i64,
        retry: &Retry,
        sleep: &mut dyn FnMut(std::time::Duration),
    ) -> Vec<ActionResult> {
        let reason = json!({ "en": format!("{}: {}", r.rule, r.reason) });
        if let Scope::Risk { iss, sub, level, previous } = &r.scope {
            // CAEP 1.0 risk-level-change: principal, current_level, risk_reason
            // required; previous_level when there was one
            let mut body = json!({
                "principal": "USER", "current_level": level, "risk_reason": format!("{}: {}", r.rule, r.reason),
                "event_timestamp": now, "initiating_entity": "policy",
            });
            if previous != "NONE" {
                body["previous_level"] = json!(previous);
            }
            let id = r.action_id("ssf:risk-level-change");
            let sub_id = json!({ "format": "iss_sub", "iss": iss, "sub": sub });
            let outcome = match self.set(&id, &r.finding_uid, sub_id, RISK_LEVEL_CHANGE, body, now) {
                Ok(jwt) => self.push(&jwt, &id, retry, sleep),
                Err(e) => Outcome::Failed(e),
            };
            return vec![ActionResult::new("ssf", "risk-level-change", id, outcome)];
        }
        let sub_id = match &r.scope {
            Scope::Risk { .. } => unreachable!("handled above"),
            Scope::Token { iss, jti } => json!({ "format": "jwt_id", "iss": iss, "jti": jti }),
            Scope::Subject { iss, sub, .. } => json!({ "format": "iss_sub", "iss": iss, "sub": sub }),
            Scope::Fingerprint { .. } => {
                // a token whose claims cannot be believed has no session at
                // the issuer to revoke, and names no user to reset
                let id = r.action_id("ssf:session-revoked");
                let why = "a forged or unverified token: no session or subject to signal".to_string();
                return vec![ActionResult::new("ssf", "session-revoked", id, Outcome::Skipped(why))];
            }
        };
        let mut sets = vec![(
            "session-revoked",
            sub_id,
            SESSION_REVOKED,
            json!({ "event_timestamp": now, "initiating_entity": "policy", "reason_admin": reason }),
        )];
        if let (true, true, Some(sub)) = (self.password_reset, r.vouched, &r.sub) {
            sets.push((
                "credential-compromise",
                json!({ "format": "iss_sub", "iss": r.iss(), "sub": sub }),
                CREDENTIAL_COMPROMISE,
                json!({ "credential_type": "password", "event_timestamp": now, "reason_admin": reason }),
            ));
        }
        let mut out = Vec::new();
        for (action, sub_id, event, body) in sets {
            let id = r.action_id(&format!("ssf:{action}"));
            let outcome = match self.set(&id, &r.finding_uid, sub_id, event, body, now) {
                Ok(jwt) => self.push(&jwt, &id, retry, sleep),
                Err(e) => Outcome::Failed(e),
            };
            let gone = outcome == Outcome::Gone;
            out.push(ActionResult::new("ssf", action, id, outcome));
            if gone {
                break; // the receiver is gone: the hook is disabled
            }
        }
        out
    }
}
