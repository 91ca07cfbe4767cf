//! The `[respond]` section: what the responder does with revocation requests
//! (mode, budget, never-revoke lists, retries) and its hooks (Redis deny-list,
//! OpenID Shared Signals transmitter, Standard Webhooks). Secrets (Redis URL
//! with a password, the SSF authorization header, the webhook secret) are
//! [`Secret`]s: redacted from `Debug` and `Display`, never logged.

use std::path::PathBuf;

use serde::Deserialize;

use crate::model::Secret;

use super::duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRespond {
    pub mode: Option<Mode>,
    pub budget_per_minute: Option<u32>,
    /// The budget of `fingerprint` requests (one forged token's own bytes),
    /// apart so a spray of garbage bearers cannot park real revocations.
    pub fingerprint_budget_per_minute: Option<u32>,
    /// The budget of risk signals (step-up), apart: a broken GeoIP database
    /// cannot step everyone up unnoticed.
    pub risk_budget_per_minute: Option<u32>,
    #[serde(default)]
    pub never_revoke_subjects: Vec<String>,
    #[serde(default)]
    pub never_revoke_clients: Vec<String>,
    #[serde(default)]
    pub never_revoke_issuers: Vec<String>,
    pub max_attempts: Option<u32>,
    pub initial_backoff_ms: Option<u64>,
    pub max_backoff_ms: Option<u64>,
    pub timeout: Option<String>,
    /// Also send the RISC credential-compromise event (make the user change the password).
    pub password_reset: Option<bool>,
    pub parked_topic: Option<String>,
    pub audit_topic: Option<String>,
    pub group: Option<String>,
    pub listen: Option<String>,
    pub redis: Option<RawRedis>,
    pub ssf: Option<RawSsf>,
    pub webhook: Option<RawWebhook>,
}

impl std::fmt::Debug for RawRespond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRespond").field("mode", &self.mode).finish_non_exhaustive()
    }
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Record what would be revoked; touch nothing.
    #[default]
    DryRun,
    Enforce,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub url: Secret,
    pub prefix: Option<String>,
    pub skew: Option<String>,
    pub subject_ttl: Option<String>,
    /// How long a subject's risk-level key lives (default 24h).
    pub risk_ttl: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSsf {
    pub endpoint: String,
    pub authorization: Option<Secret>,
    pub issuer: String,
    pub audience: String,
    pub signing_key: PathBuf,
    pub alg: Option<String>,
    pub kid: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    pub secret: Secret,
    /// Send `tokenhound.finding.created` for every alert too.
    pub alerts: Option<bool>,
}

/// Validated `[respond]` settings.
#[derive(Clone)]
pub struct RespondSettings {
    pub mode: Mode,
    pub budget_per_minute: u32,
    pub fingerprint_budget_per_minute: u32,
    pub risk_budget_per_minute: u32,
    pub never_revoke_subjects: Vec<String>,
    pub never_revoke_clients: Vec<String>,
    pub never_revoke_issuers: Vec<String>,
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub timeout_secs: u64,
    pub password_reset: bool,
    pub parked_topic: String,
    pub audit_topic: String,
    pub group: Option<String>,
    pub listen: String,
    pub redis: Option<Redis>,
    pub ssf: Option<RawSsf>,
    pub webhook: Option<RawWebhook>,
}

#[derive(Clone)]
pub struct Redis {
    pub url: Secret,
    pub prefix: String,
    pub skew_secs: i64,
    pub subject_ttl_secs: i64,
    pub risk_ttl_secs: i64,
}

impl std::fmt::Debug for RespondSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespondSettings")
            .field("mode", &self.mode)
            .field("budget_per_minute", &self.budget_per_minute)
            .field("fingerprint_budget_per_minute", &self.fingerprint_budget_per_minute)
            .field("risk_budget_per_minute", &self.risk_budget_per_minute)
            .field("redis", &self.redis.as_ref().map(|_| "<configured>"))
            .field("ssf", &self.ssf.as_ref().map(|s| &s.endpoint))
            .field("webhook", &self.webhook.as_ref().map(|w| &w.url))
            .finish_non_exhaustive()
    }
}

impl RawRespond {
    pub fn validate(self, errs: &mut Vec<String>) -> RespondSettings {
        let timeout_secs = duration(&self.timeout, "respond.timeout", 10, errs).max(1) as u64;
        let redis = self.redis.map(|r| Redis {
            prefix: r.prefix.unwrap_or_else(|| "tokenhound:deny".into()),
            skew_secs: duration(&r.skew, "respond.redis.skew", 300, errs),
            subject_ttl_secs: duration(&r.subject_ttl, "respond.redis.subject_ttl", 86_400, errs),
            risk_ttl_secs: duration(&r.risk_ttl, "respond.redis.risk_ttl", 86_400, errs).max(1),
            url: r.url,
        });
        let url_ok = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if let Some(s) = &self.ssf {
            if !url_ok(&s.endpoint) {
                errs.push("respond.ssf.endpoint: must be an http(s) URL".into());
            }
            if !s.signing_key.is_file() {
                errs.push(format!("respond.ssf.signing_key: {} does not exist", s.signing_key.display()));
            }
            if !matches!(s.alg.as_deref().unwrap_or("ES256"), "ES256" | "RS256") {
                errs.push("respond.ssf.alg: ES256 or RS256".into());
            }
        }
        if let Some(w) = &self.webhook {
            if !url_ok(&w.url) {
                errs.push("respond.webhook.url: must be an http(s) URL".into());
            }
            if !w.secret.expose().starts_with("whsec_") {
                errs.push("respond.webhook.secret: a Standard Webhooks secret (whsec_<base64>)".into());
            }
        }
        let s = RespondSettings {
            mode: self.mode.unwrap_or_default(),
            budget_per_minute: self.budget_per_minute.unwrap_or(60),
            fingerprint_budget_per_minute: self.fingerprint_budget_per_minute.unwrap_or(600),
            risk_budget_per_minute: self.risk_budget_per_minute.unwrap_or(600),
            never_revoke_subjects: self.never_revoke_subjects,
            never_revoke_clients: self.never_revoke_clients,
            never_revoke_issuers: self.never_revoke_issuers,
            max_attempts: self.max_attempts.unwrap_or(6).max(1),
            initial_backoff_ms: self.initial_backoff_ms.unwrap_or(500),
            max_backoff_ms: self.max_backoff_ms.unwrap_or(30_000),
            timeout_secs,
            password_reset: self.password_reset.unwrap_or(true),
            parked_topic: self.parked_topic.unwrap_or_else(|| "tokenhound.revocations-parked".into()),
            audit_topic: self.audit_topic.unwrap_or_else(|| "tokenhound.response-audit".into()),
            group: self.group,
            listen: self.listen.unwrap_or_else(|| "127.0.0.1:9465".into()),
            redis,
            ssf: self.ssf,
            webhook: self.webhook,
        };
        if s.listen.parse::<std::net::SocketAddr>().is_err() {
            errs.push(format!("respond.listen: {:?} is not an address:port", s.listen));
        }
        s
    }
}
