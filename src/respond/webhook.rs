//! Signed webhooks for SOAR tools and chat, per Standard Webhooks 1.0:
//! `webhook-id` (the deterministic action id, so retries and redeliveries
//! deduplicate), `webhook-timestamp` (fresh on every attempt),
//! `webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>` keyed by
//! the base64 part of the `whsec_` secret. Payloads are typed:
//! `tokenhound.revocation.requested`, `tokenhound.risk.changed` (a vouched
//! subject's risk level moved) and `tokenhound.finding.created`.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::http::{agent, post, Retry};
use super::request::Request;
use super::{ActionResult, Hook, Outcome, RespondError};
use crate::settings::RawWebhook;

pub struct WebhookHook {
    url: String,
    key: Vec<u8>,
    alerts: bool,
    agent: ureq::Agent,
    clock: fn() -> i64,
}

impl WebhookHook {
    pub fn new(cfg: &RawWebhook, timeout_secs: u64, clock: fn() -> i64) -> Result<Self, RespondError> {
        let b64 = cfg.secret.expose().strip_prefix("whsec_").unwrap_or(cfg.secret.expose());
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| RespondError::Setup("respond.webhook.secret: the part after whsec_ is not base64".into()))?;
        Ok(WebhookHook {
            url: cfg.url.clone(),
            key,
            alerts: cfg.alerts.unwrap_or(true),
            agent: agent(timeout_secs),
            clock,
        })
    }

    /// The three Standard Webhooks headers for `body` sent at `ts`.
    pub fn headers(&self, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        vec![
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", format!("v1,{sig}")),
        ]
    }

    fn send(
        &self,
        id: &str,
        kind: &str,
        data: Value,
        now: i64,
        retry: &Retry,
        sleep: &mut dyn FnMut(std::time::Duration),
    ) -> Outcome {
        let ts_rfc = chrono::DateTime::from_timestamp(now, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
        let body = json!({ "type": kind, "timestamp": ts_rfc, "data": data }).to_string();
        let d = retry.run(
            id,
            || {
                let h = self.headers(id, (self.clock)(), body.as_bytes());
                post(&self.agent, &self.url, "application/json", &h, body.as_bytes(), |_| "webhook refused".into())
            },
            sleep,
        );
        Outcome::from(d)
    }
}

impl Hook for WebhookHook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn revoke(
        &mut self,
        r: &Request,
        now: i64,
        retry: &Retry,
        sleep: &mut dyn FnMut(std::time::Duration),
    ) -> Vec<ActionResult> {
        if matches!(r.scope, super::request::Scope::Risk { .. }) {
            let id = r.action_id("webhook:risk");
            let outcome = self.send(&id, "tokenhound.risk.changed", r.raw.clone(), now, retry, sleep);
            return vec![ActionResult::new("webhook", "risk.changed", id, outcome)];
        }
        let id = r.action_id("webhook:revocation");
        let outcome = self.send(&id, "tokenhound.revocation.requested", r.raw.clone(), now, retry, sleep);
        vec![ActionResult::new("webhook", "revocation.requested", id, outcome)]
    }

    fn alert(
        &mut self,
        alert: &Value,
        now: i64,
        retry: &Retry,
        sleep: &mut dyn FnMut(std::time::Duration),
    ) -> Option<ActionResult> {
        if !self.alerts {
            return None;
        }
        let uid = alert.pointer("/finding_info/uid").and_then(Value::as_str).unwrap_or("");
        let id = super::request::uuid_like(&<Sha256 as sha2::Digest>::digest(format!("{uid}\0webhook:finding")));
        let outcome = self.send(&id, "tokenhound.finding.created", alert.clone(), now, retry, sleep);
        Some(ActionResult::new("webhook", "finding.created", id, outcome))
    }
}
