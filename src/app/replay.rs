//! `tokenhound replay`: the files driver with its outputs. Findings are
//! written as the replay releases them (alerts in the chosen format, the
//! revocation requests file, the responder), never held all at once.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use super::build::{pipeline, replay_options, rules};
use super::respond::ReplayResponder;
use super::Outcome;
use crate::cli::ReplayArgs;
use crate::enrich::load_revocations;
use crate::model::{Finding, RevocationView, VERSION};
use crate::output::{ecs_json, escape_controls, revocation_request, table_header, table_row, write_ocsf, Format};
use crate::replay::{self, ReplayReport};

fn create(p: &Path) -> Result<Box<dyn Write>> {
    let f = std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok(Box::new(std::io::BufWriter::new(f)))
}

/// Where each finding goes; the first write error is kept and reported.
struct Sink {
    format: Format,
    alerts: Box<dyn Write>,
    requests: Option<Box<dyn Write>>,
    responder: Option<ReplayResponder>,
    failed: Option<anyhow::Error>,
    /// One alert's bytes, reused: serde writes many small pieces, cheaper
    /// into a Vec than through the boxed writer one at a time.
    line: Vec<u8>,
}

impl Sink {
    fn new(format: Format, out: Option<&Path>, requests: Option<&Path>) -> Result<Sink> {
        let mut alerts = match out {
            Some(p) => create(p)?,
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        if format == Format::Table {
            writeln!(alerts, "{}", table_header())?;
        }
        let requests = requests.map(create).transpose()?;
        Ok(Sink { format, alerts, requests, responder: None, failed: None, line: Vec::with_capacity(4096) })
    }

    fn write(&mut self, f: &Finding) -> Result<()> {
        match self.format {
            Format::Ocsf => {
                self.line.clear();
                write_ocsf(&mut self.line, f, VERSION)?;
                self.line.push(b'\n');
                self.alerts.write_all(&self.line)?;
            }
            Format::Ecs => writeln!(self.alerts, "{}", ecs_json(f, VERSION))?,
            Format::Table => writeln!(self.alerts, "{}", table_row(f))?,
        }
        if let (Some(w), Some(r)) = (self.requests.as_mut(), revocation_request(f)) {
            writeln!(w, "{r}")?;
        }
        if let Some(r) = self.responder.as_mut() {
            r.handle(f)?;
        }
        Ok(())
    }

    fn take(&mut self, f: Finding) {
        if self.failed.is_none() {
            self.failed = self.write(&f).err();
        }
    }

    fn finish(mut self) -> Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.alerts.flush()?;
        if let Some(w) = self.requests.as_mut() {
            w.flush()?;
        }
        if let Some(r) = self.responder.take() {
            r.finish()?;
        }
        Ok(())
    }
}

#[allow(clippy::disallowed_methods)] // the driver times itself for the summary
pub fn run_replay(a: ReplayArgs) -> Result<Outcome> {
    let started = Instant::now();
    let p = pipeline(&a.input.pipeline, |raw| {
        if a.format.is_some() {
            raw.output.format = a.format;
        }
        if a.respond_mode.is_some() {
            raw.respond.mode = a.respond_mode;
        }
    })?;
    let s = &p.settings;
    let revs = match &a.revocations {
        Some(p) => load_revocations(p)?,
        None => RevocationView::default(),
    };
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut sink = Sink::new(s.format, a.output.as_deref(), a.revocation_requests.as_deref())?;
    if a.respond {
        sink.responder = Some(ReplayResponder::new(&s.respond, a.respond_audit.as_deref())?);
    }
    let mut opts = replay_options(&a.input, s, threads);
    if let Some(b) = &a.baseline {
        opts.baselines = Arc::new(replay::baseline::load(b)?);
        opts.keep_baselines = true;
    }
    let report = replay::run(opts, rules(s)?, Arc::new(revs), p.worker(), &mut |f| sink.take(f));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            // what was found before the bad line is written, then the error
            sink.finish()?;
            return Err(e.into());
        }
    };
    sink.finish()?;
    if let Some(b) = &a.baseline {
        replay::baseline::save(b, &report.baselines, s.risk.baseline_window_secs)?;
    }
    eprintln!("{}", summary(&report, started.elapsed().as_secs_f64()));
    Ok(Outcome::Ok)
}

fn summary(r: &ReplayReport, secs: f64) -> String {
    let rules: Vec<String> = r.by_rule.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let e = &r.engine;
    let mut s = format!(
        "tokenhound replay: {} lines, {} events ({} without a token), {} bad lines skipped\n\
         findings: {} ({})\n\
         tokens tracked: {} ({} unverified), distinct raw tokens decoded: {}, evicted: {} by ttl, {} by cap, late events: {}\n\
         subject baselines: {} ({} expired, {} evicted by cap)\n\
         {:.2}s, {:.0} events/s",
        r.lines,
        r.events,
        e.without_token,
        r.errors.total(),
        r.findings,
        if rules.is_empty() { "none".to_string() } else { rules.join(", ") },
        e.tracked_tokens,
        e.untrusted_tokens,
        r.tokens_decoded,
        e.evictions.ttl,
        e.evictions.cap,
        e.late,
        e.subjects,
        e.subject_evictions.ttl,
        e.subject_evictions.cap,
        secs,
        r.events as f64 / secs.max(1e-9)
    );
    if r.ingest.lossy_utf8 > 0 {
        s.push_str(&format!("\nlines with bytes that are not UTF-8 (read with U+FFFD): {}", r.ingest.lossy_utf8));
    }
    if r.ingest.bearer_mismatch > 0 {
        s.push_str(&format!(
            "\nbearer tokens that are not the token the gateway verified (its claims named the event): {}",
            r.ingest.bearer_mismatch
        ));
    }
    if e.forced > 0 {
        s.push_str(&format!("\nforced out of the reorder buffer (engine.max_buffered): {}", e.forced));
    }
    if r.errors.total() > 0 {
        let kinds: Vec<String> = r.errors.by_kind.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!("\nskipped by kind: {}", kinds.join(", ")));
        for e in &r.errors.examples {
            s.push_str(&format!("\n  e.g. {}", escape_controls(e)));
        }
    }
    s
}
