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
    let mut session = Session::new(Arc::new(RuleSet::new(vec![rule.clone()])), Arc::new(view), EngineConfig::default());
    let name: IStr = case.name.as_str().into();
    let mut findings = Vec::new();
    for (i, ev) in case.events.iter().enumerate() {
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
    Ok(findings)
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
            let (passed, detail) = match run_case(rule, case, geo) {
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
