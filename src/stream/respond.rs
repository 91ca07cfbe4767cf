//! `tokenhound respond`: the responder as a Kafka service. Consumes the
//! revocation-request topic (the outbox; and the alerts topic when the
//! webhook takes alerts) in group `<group>.respond`, hands each request to
//! the [`Responder`], and produces what it returns: audit records, parked
//! requests, dead letters (headers name the source record, hook and reason),
//! its own alerts. An offset is stored only when every hook has succeeded or
//! given up into the dead-letter topic and those records are acknowledged.
//! Serves the SSF transmitter's `/jwks.json` and `/.well-known/ssf-configuration`.

use std::sync::Arc;

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use super::kafka::{consumer_config, wall_ms, Ctx};
use super::metrics::{HookOutcome, OutcomeLabels, Shared};
use super::out::{DeadLetter, Outputs};
use super::stage::{self, Handler};
use crate::respond::{Emit, Request, Responder};
use crate::settings::{RespondSettings, StreamSettings};

const STAGE: &str = "respond";

pub struct RespondPlan {
    pub stream: StreamSettings,
    pub respond: RespondSettings,
}

pub fn run(plan: RespondPlan) -> Result<()> {
    let (s, r) = (plan.stream, plan.respond);
    let (hooks, ssf) = Responder::hooks_from(&r, crate::respond::wall_secs)?;
    if hooks.is_empty() {
        tracing::warn!("no hook configured in [respond]: requests are only audited");
    }
    tracing::info!(mode = ?r.mode, hooks = hooks.len(), budget = r.budget_per_minute, "tokenhound respond starting");
    let responder = Responder::new(&r, hooks);
    let (shared, out) = super::clients(&s)?;
    let docs = match ssf {
        Some((jwks, conf)) => vec![("/jwks.json", jwks), ("/.well-known/ssf-configuration", conf)],
        None => Vec::new(),
    };
    let listen = r.listen.clone();
    let s2 = s.clone();
    super::supervise(&s2, &shared, &out, &listen, docs, move |sh, o| {
        let (sh, o) = (sh.clone(), o.clone());
        let h = std::thread::Builder::new()
            .name("tokenhound-respond".into())
            .spawn(move || consume(s, r, responder, sh, o))?;
        Ok(vec![(STAGE, h)])
    })
}

fn consume(
    s: StreamSettings,
    r: RespondSettings,
    responder: Responder,
    shared: Arc<Shared>,
    out: Arc<Outputs>,
) -> Result<()> {
    let group = r.group.clone().unwrap_or_else(|| format!("{}.respond", s.group));
    let mut cfg = consumer_config(&s, &group, STAGE);
    // hooks retry with backoff inside the loop: allow for it
    cfg.set("max.poll.interval.ms", "900000");
    let consumer: BaseConsumer<Ctx> =
        cfg.create_with_context(Ctx::new(shared.clone(), STAGE, None)).context("cannot create the respond consumer")?;
    let mut topics = vec![s.requests_topic.as_str()];
    let alerts = r.webhook.as_ref().is_some_and(|w| w.alerts.unwrap_or(true));
    if alerts {
        topics.push(s.alerts_topic.as_str());
    }
    consumer.subscribe(&topics).context("cannot subscribe to the revocation-request topic")?;
    shared.metrics.hooks_started(responder.hook_names());
    let mut h = Respond { responder, shared: shared.clone(), out: out.clone(), r, s: s.clone() };
    stage::run(STAGE, &consumer, &shared, &s, &out, &mut h);
    Ok(())
}

struct Respond {
    responder: Responder,
    shared: Arc<Shared>,
    out: Arc<Outputs>,
    r: RespondSettings,
    s: StreamSettings,
}

impl Respond {
    fn count(&self, outcome: &str) {
        let l = OutcomeLabels { stage: STAGE.into(), outcome: outcome.into() };
        self.shared.metrics.events.get_or_create(&l).inc();
    }

    fn emit(&self, m: &BorrowedMessage<'_>, e: Emit, batch: usize) {
        let key = m.key().unwrap_or_default();
        match e {
            Emit::Audit(v) => {
                let l = HookOutcome {
                    hook: v["hook"].as_str().unwrap_or("").into(),
                    outcome: v["outcome"].as_str().unwrap_or("").into(),
                };
                self.shared.metrics.actions.get_or_create(&l).inc();
                tracing::info!(hook = %l.hook, outcome = %l.outcome, action_id = v["action_id"].as_str().unwrap_or(""), "response action");
                self.out.send(&self.r.audit_topic, key, Some(v.to_string().as_bytes()), None, batch);
            }
            Emit::Parked(v) => self.out.send(&self.r.parked_topic, key, Some(v.to_string().as_bytes()), None, batch),
            Emit::Alert(v) => {
                let k = v.pointer("/finding_info/analytic/uid").and_then(|x| x.as_str()).unwrap_or("tokenhound");
                tracing::error!(alert = k, "{}", v["message"].as_str().unwrap_or(""));
                self.out.send(&self.s.alerts_topic, k.as_bytes(), Some(v.to_string().as_bytes()), None, batch);
            }
            Emit::DeadLetter { hook, reason, request } => {
                let body = request.to_string();
                let mut d = DeadLetter::of(STAGE, m, "delivery_failed", reason, Some(body.as_bytes()));
                d.hook = Some(hook);
                self.out.dead_letter(d, batch);
            }
        }
    }
}

impl Handler for Respond {
    fn message(&mut self, m: &BorrowedMessage<'_>) {
        let tp = (Arc::<str>::from(m.topic()), m.partition());
        let batch = self.shared.consumed(&tp, m.offset());
        let emits = match m.payload() {
            None => Vec::new(), // a tombstone: the token expired
            Some(p) if m.topic() == self.s.alerts_topic => match serde_json::from_slice(p) {
                Ok(alert) => self.responder.alert(&alert, wall_ms()),
                Err(_) => Vec::new(),
            },
            Some(p) => match Request::parse(p) {
                Ok(req) => {
                    self.count("ok");
                    self.responder.handle(&req, wall_ms())
                }
                Err(error) => {
                    self.count("bad");
                    self.out.dead_letter(DeadLetter::of(STAGE, m, "bad_request", error.to_string(), None), batch);
                    Vec::new()
                }
            },
        };
        for e in emits {
            self.emit(m, e, batch);
        }
        self.shared.close(batch, [(tp, m.offset())]);
    }
}

impl super::metrics::Metrics {
    /// The response outcomes of the guard rails and of each configured hook, at 0.
    pub fn hooks_started<'a>(&self, hooks: impl IntoIterator<Item = &'a str>) {
        let put = |hook: &str, outcome: &str| {
            let _ =
                self.actions.get_or_create(&super::metrics::HookOutcome { hook: hook.into(), outcome: outcome.into() });
        };
        put("guard", "parked");
        put("guard", "never_revoke");
        for hook in hooks {
            for outcome in ["delivered", "skipped", "would_revoke", "dead_letter", "hook_disabled"] {
                put(hook, outcome);
            }
        }
    }
}
