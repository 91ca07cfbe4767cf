//! The rule self-test driver: each inline test's events go through the real
//! reader (tokenhound profile, the configured GeoIP) and a fresh engine
//! session holding only that rule, the same session every driver uses.
//! Claims in a test are a verifying gateway's (`trust_gateway_claims`).

use std::sync::Arc;

use crate::engine::{EngineConfig, RevocationView, Session};
use crate::enrich::{parse_revocation_line, GeoDb, GeoLookup, Reader};
use crate::ingest::{IngestConfig, Ingestor, Profile};
use crate::model::IStr;
use crate::model::{Finding, SourcePos};
use crate::token::{IdentityKeys, ResolverConfig, TokenResolver};

use crate::rules::{Rule, RuleSet, TestCase};

#[derive(Debug, Clone)]
pub struct Outcome {
    pub rule_id: String,
    pub file: String,
    pub test: String,
    pub passed: bool,
    pub detail: String,
}

/// Run one test case of `rule`; returns the findings or a setup error.
pub fn run_case(rule: &Rule, case: &TestCase, geo: Option<&Arc<GeoDb>>) -> Result<Vec<Finding>, String> {
    run_case_with(rule, case, geo, &[])
}

/// [`run_case`] with the other rules in force: a `risk-level-change` rule
/// scores their findings (only its own findings are returned).
pub fn run_case_with(
    rule: &Rule,
    case: &TestCase,
    geo: Option<&Arc<GeoDb>>,
    others: &[Rule],
) -> Result<Vec<Finding>, String> {
    let mut view = RevocationView::default();
    for (i, r) in case.revocations.iter().enumerate() {
        parse_revocation_line(&r.to_string()).map_err(|e| format!("revocations[{i}]: {e}"))?.apply(&mut view);
    }
    // a test's `claims` are a verifying gateway's (subject and client
    // exceptions apply to them); its raw `token`s are judged as given
    let rc = ResolverConfig { claims_vouched: true, ..ResolverConfig::default() };
    let resolver = TokenResolver::new(IdentityKeys::new(b"rule-tests"), None, rc);
    let cfg = IngestConfig { profile: Profile::Tokenhound, ..Default::default() };
    let mut reader = Reader::new(Ingestor::new(cfg, resolver), geo.map(|g| GeoLookup::new(g.clone(), 1024)));
    let mut set = vec![rule.clone()];
    if matches!(rule.detector, crate::rules::Detector::RiskLevelChange(_)) {
        set.extend(others.iter().filter(|r| r.id != rule.id).cloned());
    }
    let mut session = Session::new(Arc::new(RuleSet::new(set)), Arc::new(view), EngineConfig::default());
    let name: IStr = case.name.as_str().into();
    let mut findings = Vec::new();
    for (i, ev) in expand(&case.events)?.iter().enumerate() {
        let src = SourcePos::Test { name: name.clone(), index: i as u64 };
        let (mut evs, mut errs) = (Vec::new(), Vec::new());
        reader.read(ev.to_string().as_bytes(), &src, &mut evs, &mut errs);
        if let Some(e) = errs.first() {
            return Err(format!("events[{i}]: {e}"));
        }
        for e in evs {
            session.push(0, e, &mut findings);
        }
        session.advance(&mut findings);
    }
    session.finish(&mut findings);
    findings.retain(|f| f.rule_id == rule.id);
    Ok(findings)
}

/// Expand events with `"repeat": {"count": N, "every": "1d"}` into N copies,
/// `every` apart, each a new token of the same subject (`-<i>` appended to
/// its `jti`): a subject's history in one line.
fn expand(events: &[serde_json::Value]) -> Result<Vec<serde_json::Value>, String> {
    let mut out = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        let Some(rep) = ev.get("repeat") else {
            out.push(ev.clone());
            continue;
        };
        let bad = |m: &str| format!("events[{i}].repeat: {m}");
        let count = rep.get("count").and_then(|c| c.as_u64()).filter(|c| (1..=10_000).contains(c));
        let count = count.ok_or_else(|| bad("count must be 1..=10000"))?;
        let every = rep.get("every").and_then(|e| e.as_str()).ok_or_else(|| bad("every is a duration"))?;
        let every = crate::rules::parse_duration(every).map_err(|e| bad(&e))?;
        let time = ev.get("time").and_then(|t| t.as_str()).ok_or_else(|| bad("the event needs a time"))?;
        let t0 = crate::model::EventTime::parse(time).map_err(|e| bad(&e.to_string()))?;
        for n in 0..count {
            let mut e = ev.clone();
            let o = e.as_object_mut().ok_or_else(|| bad("not an object"))?;
            o.remove("repeat");
            o.insert("time".into(), t0.plus_secs(every * n as i64).to_rfc3339().into());
            if let Some(j) = o.get_mut("claims").and_then(|c| c.get_mut("jti")) {
                *j = format!("{}-{n}", j.as_str().unwrap_or("")).into();
            }
            out.push(e);
        }
    }
    Ok(out)
}

/// Run every test of every rule.
pub fn run_all(set: &RuleSet, geo: Option<&Arc<GeoDb>>) -> Vec<Outcome> {
    let mut out = Vec::new();
    for rule in &set.rules {
        if rule.tests.is_empty() {
            out.push(Outcome {
                rule_id: rule.id.to_string(),
                file: rule.file.clone(),
                test: "(none)".into(),
                passed: false,
                detail: "rule has no tests: every rule needs a must-fire and a must-not-fire test".into(),
            });
            continue;
        }
        let fires = rule.tests.iter().any(|t| t.expect == "fire");
        let quiet = rule.tests.iter().any(|t| t.expect == "no-fire");
        if !(fires && quiet) {
            out.push(Outcome {
                rule_id: rule.id.to_string(),
                file: rule.file.clone(),
                test: "(coverage)".into(),
                passed: false,
                detail: "rule needs at least one `fire` and one `no-fire` test".into(),
            });
        }
        for case in &rule.tests {
            let (passed, detail) = match run_case_with(rule, case, geo, &set.rules) {
                Err(e) => (false, e),
                Ok(f) => judge(case, &f),
            };
            out.push(Outcome {
                rule_id: rule.id.to_string(),
                file: rule.file.clone(),
                test: case.name.clone(),
                passed,
                detail,
            });
        }
    }
    out
}

fn judge(case: &TestCase, f: &[Finding]) -> (bool, String) {
    let n = f.len();
    let msgs: Vec<&str> = f.iter().map(|x| x.message.as_str()).collect();
    match (case.expect.as_str(), case.count) {
        ("fire", Some(c)) => (n == c, format!("expected {c} finding(s), got {n} {msgs:?}")),
        ("fire", None) => (n > 0, format!("expected a finding, got {n}")),
        _ => (n == 0, format!("expected no finding, got {n} {msgs:?}")),
    }
}
