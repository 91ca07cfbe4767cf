//! The responder's wiring: `tokenhound respond` (the Kafka service) and
//! `replay --respond` (each finding of a replay through the same guard rails
//! and hooks, recorded in an audit file).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::model::{Finding, VERSION};
use crate::output::{escape_controls, ocsf_json, revocation_request};
use crate::respond::{wall_ms, wall_secs, Emit, Request, Responder};
use crate::settings::RespondSettings;

/// `replay --respond`: one finding at a time.
pub struct ReplayResponder {
    responder: Responder,
    audit: Option<Box<dyn Write>>,
    counts: BTreeMap<String, u64>,
}

impl ReplayResponder {
    pub fn new(r: &RespondSettings, audit: Option<&Path>) -> Result<Self> {
        let (hooks, _) = Responder::hooks_from(r, wall_secs)?;
        let audit: Option<Box<dyn Write>> = match audit {
            Some(p) => Some(Box::new(std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
            ))),
            None => None,
        };
        Ok(ReplayResponder { responder: Responder::new(r, hooks), audit, counts: BTreeMap::new() })
    }

    /// The finding's alert and revocation request through the responder.
    pub fn handle(&mut self, f: &Finding) -> Result<()> {
        let mut emits = self.responder.alert(&ocsf_json(f, VERSION), wall_ms());
        if let Some(req) = revocation_request(f) {
            let req = Request::parse(req.to_string().as_bytes())?;
            emits.extend(self.responder.handle(&req, wall_ms()));
        }
        for e in emits {
            let (kind, v) = self.record(e);
            if let Some(w) = self.audit.as_mut() {
                writeln!(w, "{}", json!({"record": kind, "value": v}))?;
            }
        }
        Ok(())
    }

    fn record(&mut self, e: Emit) -> (&'static str, Value) {
        match e {
            Emit::Audit(v) => {
                *self.counts.entry(v["outcome"].as_str().unwrap_or("").to_string()).or_default() += 1;
                ("audit", v)
            }
            Emit::DeadLetter { hook, reason, request } => {
                ("dead_letter", json!({"hook": hook, "reason": reason, "request": request}))
            }
            Emit::Parked(v) => ("parked", v),
            Emit::Alert(v) => {
                let msg = v["message"].as_str().unwrap_or("");
                eprintln!("tokenhound respond: alert: {}", escape_controls(msg));
                ("alert", v)
            }
        }
    }

    /// Flush the audit and say what was done.
    pub fn finish(mut self) -> Result<()> {
        if let Some(w) = self.audit.as_mut() {
            w.flush()?;
        }
        let c: Vec<String> = self.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!(
            "tokenhound respond ({:?}): {}",
            self.responder.mode(),
            if c.is_empty() { "nothing to do".into() } else { c.join(", ") }
        );
        Ok(())
    }
}

/// `tokenhound respond`: the responder as a Kafka service.
#[cfg(feature = "kafka")]
pub fn run_respond(a: crate::cli::RespondArgs) -> Result<super::Outcome> {
    let s = super::build::settings(&a.common, |raw| {
        super::stream::kafka_flags(raw, &a.brokers, &a.group);
        if a.listen.is_some() {
            raw.respond.listen = a.listen.clone();
        }
        if a.mode.is_some() {
            raw.respond.mode = a.mode;
        }
    })?;
    use crate::cli::RespondAction;
    match &a.action {
        None => {
            crate::stream::respond::run(crate::stream::respond::RespondPlan { stream: s.stream, respond: s.respond })?
        }
        Some(RespondAction::ListParked) => {
            let parked = crate::stream::parked::list(&s.stream, &s.respond)?;
            println!("{:<12} {:<10} {:<20} {:<10} {:<40} REASON", "ID", "STATUS", "RULE", "SCOPE", "WHAT");
            for p in &parked {
                let r = &p.request;
                let status = p.decision.as_ref().map_or("parked".to_string(), |(d, by, _)| format!("{d}:{by}"));
                let field = |k: &str| escape_controls(r[k].as_str().unwrap_or("-"));
                println!(
                    "{:<12} {:<10} {:<20} {:<10} {:<40} {}",
                    p.id,
                    escape_controls(&status),
                    field("rule"),
                    field("scope"),
                    field("key"),
                    field("reason")
                );
            }
            let open = parked.iter().filter(|p| p.decision.is_none()).count();
            eprintln!("{} parked request(s), {open} awaiting a decision", parked.len());
        }
        Some(RespondAction::Approve(d)) | Some(RespondAction::Reject(d)) => {
            let approve = matches!(a.action, Some(RespondAction::Approve(_)));
            let done = crate::stream::parked::decide(&s.stream, &s.respond, &d.ids, approve, &d.by, &d.reason)?;
            let what = if approve { "approved (sent back to be delivered)" } else { "rejected" };
            eprintln!("{} request(s) {what} by {}: {}", done.len(), escape_controls(&d.by), done.join(" "));
        }
    }
    Ok(super::Outcome::Ok)
}
