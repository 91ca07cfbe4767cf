//! (feature `batch`) Forensics with polars, the only place polars appears:
//! `tokenhound export --parquet`, and `tokenhound investigate`: load the logs
//! once (ingest -> normalized Parquet, detecting with the shared engine on
//! the way), then per stolen token the timeline, attacker infrastructure and
//! blast radius; the pivot to other tokens; the root cause; a report in JSON,
//! Markdown and self-contained HTML.

pub mod attribution;
pub mod budget;
mod copy;
pub mod csv;
mod events;
mod export;
pub mod firstuse;
pub mod incident;
pub mod load;
mod map;
pub mod pivot;
mod progress;
pub mod report;
pub mod rootcause;
mod sort;
pub mod stats;

pub use budget::Budget;
pub use export::{ParquetExport, EXPORT_COLUMNS};

use std::path::Path;

use anyhow::{Context, Result};

use incident::{Incident, Lead};
use report::Report;

/// Run a query on polars' streaming engine (scans, filters, sorts and
/// group-bys in bounded batches instead of whole columns).
pub(crate) fn collect(lf: polars::prelude::LazyFrame) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    // one sink, so the result is a single frame
    Ok(lf.collect_with_engine(polars::prelude::Engine::Streaming)?.unwrap_single())
}

/// From loaded events and leads to the report (written to `out_dir`).
pub fn analyse(
    loaded: &load::Loaded,
    leads: &[Lead],
    attribution: Vec<String>,
    settings: &crate::settings::InvestigateSettings,
    out_dir: &Path,
) -> Result<Report> {
    progress::phase_end("leads");
    let lf = load::scan(&loaded.parquet)?;
    let bar = progress::Progress::spinner("incidents");
    let incidents: Vec<Incident> = incident::incidents(lf.clone(), leads)?;
    bar.finish(&format!("{} incidents", incidents.len()));
    let bar = progress::Progress::spinner("pivot");
    let mut ind = pivot::indicators(&incidents, settings.window_secs * 1_000_000);
    let mut suspects = pivot::pivot(lf.clone(), &incidents, &mut ind, settings)?;
    // best first: a spray's tokens beyond the budget are counted, not listed
    let not_listed = suspects.len().saturating_sub(budget::MAX_TOKENS);
    suspects.truncate(budget::MAX_TOKENS);
    bar.finish(&format!("{} other tokens", suspects.len()));
    let bar = progress::Progress::spinner("root cause");
    let causes = rootcause::root_causes(&loaded.first_uses, &incidents, settings.q_max)?;
    bar.finish("done");
    let mut resets: Vec<String> = incidents
        .iter()
        .filter(|i| i.rules.iter().any(|r| r != "forged-token"))
        .filter_map(|i| i.sub.clone())
        .chain(suspects.iter().filter_map(|s| s.sub.clone()))
        .collect();
    resets.sort();
    resets.dedup();
    let requests = incidents
        .iter()
        .map(|i| (&i.token, i.sub.as_deref(), i.findings.first().cloned().unwrap_or_default(), i.first_suspicious_us))
        .chain(suspects.iter().map(|s| (&s.token, s.sub.as_deref(), String::new(), None)))
        .filter_map(|(tok, sub, uid, at)| request(tok, sub, &uid, at))
        .collect();
    let r = Report {
        generated_by: format!("tokenhound {}", crate::model::VERSION),
        events: loaded.events,
        not_detailed: loaded.not_detailed.clone(),
        incidents,
        indicators: ind,
        likely_also_compromised: suspects,
        likely_also_compromised_not_listed: not_listed,
        password_resets: resets,
        revocation_requests: requests,
        root_causes: causes.hypotheses.clone(),
        root_cause_tests: causes,
        attribution,
    };
    let write = |name: &str, body: String| {
        let p = out_dir.join(name);
        std::fs::write(&p, body).with_context(|| format!("cannot write {}", p.display()))
    };
    write("report.json", serde_json::to_string_pretty(&r)?)?;
    write("report.md", report::markdown(&r))?;
    write("report.html", report::html(&r))?;
    let reqs: String = r.revocation_requests.iter().map(|v| format!("{v}\n")).collect();
    write("revocation-requests.ndjson", reqs)?;
    progress::phase_end("report written");
    Ok(r)
}

/// A revocation request (the `respond` format) for a token named `iss|jti`
/// (a fingerprint names no token a hook can revoke from here).
fn request(token: &str, sub: Option<&str>, uid: &str, at: Option<i64>) -> Option<serde_json::Value> {
    let (iss, jti) = token.split_once('|')?;
    let unescape = |p: &str| p.replace("%7C", "|").replace("%25", "%");
    let (iss, jti) = (unescape(iss), unescape(jti));
    let uid = if uid.is_empty() { format!("investigate:{token}") } else { uid.to_string() };
    let at = chrono::DateTime::from_timestamp_micros(at.unwrap_or(0)).map(|t| t.to_rfc3339()).unwrap_or_default();
    Some(serde_json::json!({
        "scope": "token", "iss": iss, "jti": jti, "sub": sub, "key": token,
        "finding_uid": uid, "rule": "investigate", "reason": "stolen or likely compromised (tokenhound investigate)",
        "requested_at": at, "exp": null, "idempotency_key": format!("{uid}:investigate"),
    }))
}
