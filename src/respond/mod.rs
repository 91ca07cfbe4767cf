//! Response: revocation requests become actions, safely. The [`Responder`]
//! applies the guard rails (never-revoke lists, the per-minute budget with
//! parking and one `revocation-storm` alert, dry-run) and delivers each
//! request to every configured hook (Redis deny-list, Shared Signals SETs,
//! Standard Webhooks) with retries; it returns what the driver must write
//! (audit records, dead letters, parked requests, alerts). Drivers: the
//! `respond` stage of the Kafka service, and `replay --respond`.

pub mod guard;
pub mod http;
pub mod redis_hook;
pub mod request;
pub mod ssf;
pub mod webhook;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::settings::{Mode, RespondSettings};
use guard::{Admit, Budget, NeverRevoke};
use http::{Delivery, Retry};
pub use request::Request;

/// Why the responder cannot start, or cannot read a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RespondError {
    /// A hook's settings cannot be used (the message names the key, never a secret).
    #[error("{0}")]
    Setup(String),
    /// A revocation request that is not one (bad JSON, missing parts).
    #[error("not a revocation request: {0}")]
    BadRequest(String),
}

/// How one action ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered { attempts: u32 },
    Skipped(String),
    Failed(String),
    Gone,
}

impl From<Delivery> for Outcome {
    fn from(d: Delivery) -> Self {
        match d {
            Delivery::Delivered { attempts } => Outcome::Delivered { attempts },
            Delivery::Failed { reason, .. } => Outcome::Failed(reason),
            Delivery::Gone => Outcome::Gone,
        }
    }
}

/// One action of one hook for one request.
#[derive(Debug, Clone)]
pub struct ActionResult {
    pub hook: &'static str,
    pub action: &'static str,
    pub id: String,
    pub outcome: Outcome,
}

impl ActionResult {
    pub fn new(hook: &'static str, action: &'static str, id: String, outcome: Outcome) -> Self {
        ActionResult { hook, action, id, outcome }
    }
}

/// A place revocations are delivered to.
pub trait Hook: Send {
    fn name(&self) -> &'static str;
    fn revoke(
        &mut self,
        r: &Request,
        now_secs: i64,
        retry: &Retry,
        sleep: &mut dyn FnMut(Duration),
    ) -> Vec<ActionResult>;
    /// An alert for SOC delivery (the webhook); most hooks take none.
    fn alert(
        &mut self,
        _alert: &Value,
        _now: i64,
        _retry: &Retry,
        _sleep: &mut dyn FnMut(Duration),
    ) -> Option<ActionResult> {
        None
    }
}

pub type Hooks = Vec<Box<dyn Hook>>;

/// The SSF transmitter's JWKS and `/.well-known/ssf-configuration`, to serve.
pub type SsfDocs = (Value, Value);

/// What the driver writes for a request.
#[derive(Debug, Clone)]
pub enum Emit {
    /// What was done or would be done (dry-run), one record per action.
    Audit(Value),
    /// A hook gave up: the request and the reason.
    DeadLetter { hook: &'static str, reason: String, request: Value },
    /// Over budget: waits for a person (send it back with `approved_by`).
    Parked(Value),
    /// An alert of the responder itself (revocation storm, hook disabled).
    Alert(Value),
}

pub struct Responder {
    mode: Mode,
    /// Requests that name a token or a subject.
    budget: Budget,
    /// Requests that name one token's own bytes (`fingerprint` scope, the
    /// forgeries anyone can mint): a budget of their own, so a spray of
    /// garbage bearers cannot spend the budget of real revocations.
    fingerprint_budget: Budget,
    /// Risk signals (step-up): a budget of their own.
    risk_budget: Budget,
    never: NeverRevoke,
    hooks: Vec<Box<dyn Hook>>,
    disabled: BTreeSet<&'static str>,
    retry: Retry,
    sleep: Box<dyn FnMut(Duration) + Send>,
}

impl Responder {
    pub fn new(s: &RespondSettings, hooks: Vec<Box<dyn Hook>>) -> Self {
        Responder {
            mode: s.mode,
            budget: Budget::new(s.budget_per_minute),
            fingerprint_budget: Budget::new(s.fingerprint_budget_per_minute),
            risk_budget: Budget::new(s.risk_budget_per_minute),
            never: NeverRevoke::new(s),
            hooks,
            disabled: BTreeSet::new(),
            retry: Retry {
                max_attempts: s.max_attempts,
                initial_backoff_ms: s.initial_backoff_ms,
                max_backoff_ms: s.max_backoff_ms,
            },
            sleep: Box::new(std::thread::sleep),
        }
    }

    /// The hooks configured in `[respond]` (SSF's JWKS and metadata returned for serving).
    pub fn hooks_from(s: &RespondSettings, clock: fn() -> i64) -> Result<(Hooks, Option<SsfDocs>), RespondError> {
        let mut hooks: Vec<Box<dyn Hook>> = Vec::new();
        let mut ssf_meta = None;
        if let Some(r) = &s.redis {
            hooks.push(Box::new(redis_hook::RedisHook::new(r.clone())?));
        }
        if let Some(c) = &s.ssf {
            let h = ssf::SsfHook::new(c.clone(), s.timeout_secs, s.password_reset)?;
            ssf_meta = Some((h.jwks(), h.configuration()));
            hooks.push(Box::new(h));
        }
        if let Some(w) = &s.webhook {
            hooks.push(Box::new(webhook::WebhookHook::new(w, s.timeout_secs, clock)?));
        }
        Ok((hooks, ssf_meta))
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The configured hooks' names, in delivery order.
    pub fn hook_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.hooks.iter().map(|h| h.name())
    }

    /// Guard rails, then every hook. `now_ms` is the wall clock (driver's).
    pub fn handle(&mut self, r: &Request, now_ms: i64) -> Vec<Emit> {
        let now = now_ms / 1000;
        if let Some(list) = self.never.protects(r) {
            return vec![self.audit(r, "guard", "revoke", "", "never_revoke", list, now)];
        }
        if r.approved_by.is_none() {
            // a risk signal revokes nothing: it has a budget of its own
            let (budget, which) = match r.scope {
                request::Scope::Risk { .. } => (&mut self.risk_budget, "risk signal budget"),
                request::Scope::Fingerprint { .. } => (&mut self.fingerprint_budget, "fingerprint revocation budget"),
                _ => (&mut self.budget, "revocation budget"),
            };
            if let Admit::Park { storm_starts } = budget.admit(now_ms) {
                let mut out = vec![
                    Emit::Parked(r.raw.clone()),
                    self.audit(r, "guard", "revoke", "", "parked", &format!("over the {which}"), now),
                ];
                if storm_starts {
                    out.push(Emit::Alert(system_alert(
                        "revocation-storm",
                        &format!(
                            "{which} exhausted: requests are parked for approval (first: rule {}, finding {})",
                            r.rule, r.finding_uid
                        ),
                        now_ms,
                        &r.finding_uid,
                    )));
                }
                return out;
            }
        }
        let mut out = Vec::new();
        for i in 0..self.hooks.len() {
            let name = self.hooks[i].name();
            if self.disabled.contains(name) {
                out.push(self.audit(r, name, "revoke", "", "hook_disabled", "disabled after HTTP 410", now));
                continue;
            }
            if self.mode == Mode::DryRun {
                out.push(self.audit(r, name, "revoke", &r.action_id(name), "would_revoke", "dry-run", now));
                continue;
            }
            let results = self.hooks[i].revoke(r, now, &self.retry, &mut self.sleep);
            for a in results {
                out.extend(self.record(r, a, now_ms));
            }
        }
        out
    }

    /// An alert for the hooks that take alerts (not budgeted, not gated by dry-run).
    pub fn alert(&mut self, alert: &Value, now_ms: i64) -> Vec<Emit> {
        let mut out = Vec::new();
        for i in 0..self.hooks.len() {
            if self.disabled.contains(self.hooks[i].name()) {
                continue;
            }
            if let Some(a) = self.hooks[i].alert(alert, now_ms / 1000, &self.retry, &mut self.sleep) {
                let detail = outcome_detail(&a.outcome);
                out.push(Emit::Audit(json!({
                    "time": rfc3339(now_ms / 1000), "hook": a.hook, "action": a.action, "action_id": a.id,
                    "finding_uid": alert.pointer("/finding_info/uid"), "outcome": detail.0, "detail": detail.1,
                })));
            }
        }
        out
    }

    fn record(&mut self, r: &Request, a: ActionResult, now_ms: i64) -> Vec<Emit> {
        let now = now_ms / 1000;
        let (outcome, detail) = outcome_detail(&a.outcome);
        let mut out = vec![self.audit(r, a.hook, a.action, &a.id, outcome, &detail, now)];
        match a.outcome {
            Outcome::Failed(reason) => out.push(Emit::DeadLetter { hook: a.hook, reason, request: r.raw.clone() }),
            Outcome::Gone if !self.disabled.insert(a.hook) => {}
            Outcome::Gone => {
                tracing::error!(hook = a.hook, "the receiver answered 410 Gone: hook disabled");
                out.push(Emit::DeadLetter {
                    hook: a.hook,
                    reason: "receiver gone (HTTP 410)".into(),
                    request: r.raw.clone(),
                });
                out.push(Emit::Alert(system_alert(
                    "hook-disabled",
                    &format!("the {} hook's receiver answered 410 Gone; the hook is disabled until restart", a.hook),
                    now_ms,
                    a.hook,
                )));
            }
            _ => {}
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(&self, r: &Request, hook: &str, action: &str, id: &str, outcome: &str, detail: &str, now: i64) -> Emit {
        Emit::Audit(json!({
            "time": rfc3339(now),
            "mode": match self.mode { Mode::DryRun => "dry-run", Mode::Enforce => "enforce" },
            "hook": hook, "action": action, "action_id": id, "outcome": outcome, "detail": detail,
            "finding_uid": r.finding_uid, "rule": r.rule, "idempotency_key": r.idempotency_key,
            "key": r.raw.get("key"), "scope": r.raw.get("scope"), "approved_by": r.approved_by,
        }))
    }
}

fn outcome_detail(o: &Outcome) -> (&'static str, String) {
    match o {
        Outcome::Delivered { attempts } => ("delivered", format!("{attempts} attempt(s)")),
        Outcome::Skipped(why) => ("skipped", why.clone()),
        Outcome::Failed(why) => ("dead_letter", why.clone()),
        Outcome::Gone => ("hook_disabled", "HTTP 410".into()),
    }
}

/// Wall-clock milliseconds: drivers (never the engine) read the clock.
#[allow(clippy::disallowed_methods)]
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Wall-clock seconds (webhook timestamps).
pub fn wall_secs() -> i64 {
    wall_ms() / 1000
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
}

/// An alert of the responder itself (`revocation-storm`, `hook-disabled`),
/// as an OCSF Detection Finding valid against the schema like every alert.
pub fn system_alert(kind: &str, message: &str, now_ms: i64, salt: &str) -> Value {
    let uid = request::uuid_like(&<sha2::Sha256 as sha2::Digest>::digest(format!("{kind}\0{salt}")));
    let title = match kind {
        "revocation-storm" => "Revocation budget exhausted: requests parked for approval",
        "hook-disabled" => "A response hook's receiver is gone: hook disabled",
        _ => kind,
    };
    json!({
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
        "activity_id": 1, "activity_name": "Create", "type_uid": 200401, "type_name": "Detection Finding: Create",
        "time": now_ms, "time_dt": crate::model::EventTime(now_ms.saturating_mul(1000)).to_rfc3339(), "severity_id": 4, "severity": "High", "status_id": 1, "status": "New",
        "metadata": {
            "version": crate::output::OCSF_VERSION,
            "profiles": crate::output::OCSF_SYSTEM_PROFILES,
            "uid": uid,
            "product": { "name": "tokenhound", "vendor_name": "tokenhound", "version": crate::model::VERSION },
        },
        "finding_info": { "uid": uid, "title": title, "analytic": { "uid": kind, "name": kind, "type_id": 1, "type": "Rule" } },
        "message": message,
    })
}
