//! `tokenhound export` and `tokenhound investigate` (feature `batch`).

use std::sync::Arc;

use anyhow::{Context, Result};

use super::build::{geo, pipeline, replay_options, rules};
use super::Outcome;
use crate::enrich::load_revocations;
use crate::forensics::incident::Lead;
use crate::model::RevocationView;
use crate::output::escape_controls;
use crate::replay;

/// `tokenhound export --parquet OUT [--csv OUT] INPUT...`: one thread, in input order.
pub fn run_export(a: crate::cli::ExportArgs) -> Result<Outcome> {
    let p = pipeline(&a.input.pipeline, |_| {})?;
    let target = match (&a.parquet, &a.csv) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c.with_extension("parquet.tmp"),
        (None, None) => anyhow::bail!("--parquet or --csv is required"),
    };
    let mut out = crate::forensics::ParquetExport::create(&target)?;
    let mut failed = None;
    let opts = replay_options(&a.input, &p.settings, 1);
    let files = replay::expand_inputs(&opts.inputs)?;
    let report = replay::scan(&files, &opts, p.worker(), |ev| {
        if failed.is_none() {
            failed = out.push(&ev).err();
        }
    })?;
    if let Some(e) = failed {
        return Err(e).with_context(|| format!("cannot write {}", target.display()));
    }
    let rows = out.finish().with_context(|| format!("cannot write {}", target.display()))?;
    if let Some(c) = &a.csv {
        crate::forensics::csv::from_parquet(&target, c)?;
        if a.parquet.is_none() {
            let _ = std::fs::remove_file(&target);
        }
    }
    let written: Vec<String> = a.parquet.iter().chain(a.csv.iter()).map(|p| p.display().to_string()).collect();
    eprintln!(
        "tokenhound export: {} lines, {rows} events written to {}, {} bad lines skipped",
        report.lines,
        written.join(" and "),
        report.errors.total()
    );
    Ok(Outcome::Ok)
}

/// The leads of an investigation: the findings of the load, or an alerts
/// file (each alert takes the sides of its uses from the engine's finding
/// of the same uid on these events, when there is one).
fn leads(
    alerts: Option<&std::path::Path>,
    loaded: &mut crate::forensics::load::Loaded,
    revs: &RevocationView,
) -> Result<Vec<Lead>> {
    use std::io::BufRead as _;
    let Some(f) = alerts else {
        return Ok(loaded.findings.iter().map(|f| Lead::from_finding(f, revs)).collect());
    };
    let engine: std::collections::HashMap<&str, &crate::model::Finding> =
        loaded.findings.iter().map(|f| (f.uid.as_str(), f)).collect();
    // line by line, and as many tokens detailed as from the engine's findings
    let file = std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
    let mut budget = crate::forensics::Budget::default();
    let mut out = Vec::new();
    for (i, l) in std::io::BufReader::new(file).lines().enumerate() {
        let l = l.with_context(|| format!("cannot read {}", f.display()))?;
        if l.trim().is_empty() {
            continue;
        }
        let lead = serde_json::from_str(&l)
            .ok()
            .and_then(|v| Lead::from_alert(&v))
            .map(|mut l| {
                if let Some(f) = engine.get(l.uid.as_str()) {
                    l.evidence = Lead::from_finding(f, revs).evidence;
                }
                l
            })
            .with_context(|| format!("{}:{}: not an OCSF alert of tokenhound", f.display(), i + 1))?;
        if budget.admit(&lead.token, &lead.rule) {
            out.push(lead);
        }
    }
    drop(engine);
    loaded.not_detailed = budget.dropped;
    Ok(out)
}

/// `tokenhound investigate`: load (and detect), then the forensic report.
pub fn run_investigate(a: crate::cli::InvestigateArgs) -> Result<Outcome> {
    let p = pipeline(&a.input.pipeline, |_| {})?;
    let s = &p.settings;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let revs = Arc::new(match &a.revocations {
        Some(p) => load_revocations(p)?,
        None => RevocationView::default(),
    });
    let mut inv = s.investigate.clone();
    if let Some(w) = &a.pivot_window {
        inv.window_secs = crate::rules::parse_duration(w).map_err(|e| anyhow::anyhow!("--pivot-window: {e}"))?;
    }
    let opts = replay_options(&a.input, s, 1);
    // detect even with --alerts: the engine's verdicts on these events tell the sides
    let detect = true;
    let mut loaded = crate::forensics::load::load(
        &a.input.inputs,
        &opts,
        p.worker(),
        rules(s)?,
        revs.clone(),
        &p.identity,
        &a.out,
        detect,
    )?;
    let leads = leads(a.alerts.as_deref(), &mut loaded, &revs)?;
    let attribution = geo(s)?.map(|g| g.attribution.clone()).unwrap_or_default();
    let r = crate::forensics::analyse(&loaded, &leads, attribution, &inv, &a.out)?;
    eprintln!(
        "tokenhound investigate: {} events ({} bad lines skipped), {} incidents, {} other tokens likely compromised; report in {}",
        loaded.events,
        loaded.bad_lines,
        r.incidents.len(),
        r.likely_also_compromised.len(),
        a.out.display()
    );
    if let Some(h) = r.root_causes.first() {
        eprintln!("top root-cause hypothesis: {}", escape_controls(&h.statement));
    }
    Ok(Outcome::Ok)
}
