//! Rule files to a [`RuleSet`]: typed detector params, validated metadata,
//! and every problem collected with file, rule id and field.

use std::path::Path;
use std::sync::Arc;

use super::params::{detector, Detector};
use super::schema::{RuleFile, TestCase};
use super::{parse_duration, Exceptions, RuleError, RuleErrors, Scope};
use crate::model::{Response, Severity};

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: Arc<str>,
    pub title: Arc<str>,
    pub description: String,
    pub severity: Severity,
    pub techniques: Arc<[String]>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub detector: Detector,
    pub scope: Scope,
    pub exceptions: Exceptions,
    pub response: Response,
    pub dedup_secs: i64,
    /// OCSF confidence_id override (1..3).
    pub confidence: Option<u8>,
    pub tests: Vec<TestCase>,
    pub file: String,
}

/// The rules in force, in a stable order (by id).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn new(mut rules: Vec<Rule>) -> Self {
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        RuleSet { rules }
    }
    /// Longest concurrent-use window (how long recent places are kept).
    pub fn max_window_secs(&self) -> i64 {
        self.rules
            .iter()
            .filter_map(|r| match r.detector {
                Detector::ConcurrentUse { window_secs, .. } => Some(window_secs),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// Load every `*.yml` / `*.yaml` under `dir` (sorted); all errors at once.
pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            return Err(RuleErrors(vec![RuleError {
                file: dir.display().to_string(),
                rule_id: None,
                field: "-".into(),
                message: format!("cannot read rules directory: {e}"),
            }]))
        }
    };
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")));
    files.sort();
    let (mut rules, mut errors) = (Vec::new(), Vec::new());
    for f in &files {
        let name = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(text) => match compile_file(&text, &name) {
                Ok(r) => rules.push(r),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(RuleError { file: name, rule_id: None, field: "-".into(), message: e.to_string() }),
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    for r in &rules {
        if let Some(prev) = seen.insert(r.id.clone(), r.file.clone()) {
            errors.push(err(&r.file, Some(&r.id), "id", format!("duplicate id, also in {prev}")));
        }
    }
    if files.is_empty() {
        errors.push(err(&dir.display().to_string(), None, "-", "no rule files (*.yml) found".into()));
    }
    if errors.is_empty() {
        Ok(RuleSet::new(rules))
    } else {
        Err(RuleErrors(errors))
    }
}

fn err(file: &str, id: Option<&str>, field: &str, message: String) -> RuleError {
    RuleError { file: file.into(), rule_id: id.map(Into::into), field: field.into(), message }
}

/// Parse and compile one rule file's text.
pub fn compile_file(text: &str, file: &str) -> Result<Rule, Vec<RuleError>> {
    let raw: RuleFile = serde_saphyr::from_str(text).map_err(|e| {
        let id = text.lines().find_map(|l| l.strip_prefix("id:")).map(|s| s.trim().trim_matches('"').to_string());
        vec![RuleError { file: file.into(), rule_id: id, field: "(yaml)".into(), message: e.to_string() }]
    })?;
    let mut errs = Vec::new();
    let id = raw.id.as_str();
    let mut e = |field: &str, msg: String| errs.push(err(file, Some(id), field, msg));
    let valid_id = !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_id {
        e("id", format!("{id:?} must be kebab-case (a-z, 0-9, -)"));
    }
    let severity = Severity::parse(&raw.level).unwrap_or_else(|| {
        e("level", format!("{:?} is not one of informational, low, medium, high, critical", raw.level));
        Severity::Medium
    });
    let mut techniques = Vec::new();
    for t in &raw.tags {
        match t.strip_prefix("attack.") {
            Some(x) if x.starts_with('t') && x.len() > 1 => techniques.push(x.to_ascii_uppercase()),
            Some(_) => {}
            None => e("tags", format!("{t:?} should be namespaced, e.g. attack.t1550.001")),
        }
    }
    let response = match raw.response.as_str() {
        "alert" => Response::Alert,
        "revoke" | "revoke-token" => Response::RevokeToken,
        "revoke-subject" => Response::RevokeSubject,
        other => {
            e("response", format!("{other:?} is not alert, revoke or revoke-subject"));
            Response::Alert
        }
    };
    let dedup_secs = match raw.dedup.as_deref().map(parse_duration).unwrap_or(Ok(3600)) {
        Ok(s) => s,
        Err(m) => {
            e("dedup", m);
            3600
        }
    };
    let confidence = match raw.confidence.as_deref() {
        None => None,
        Some("low") => Some(1),
        Some("medium") => Some(2),
        Some("high") => Some(3),
        Some(o) => {
            e("confidence", format!("{o:?} is not low, medium or high"));
            None
        }
    };
    let detector = detector(&raw, &mut e);
    let scope = Scope {
        issuers: raw.scope.issuers.clone(),
        clients: raw.scope.clients.clone(),
        paths: raw.scope.paths.clone(),
        methods: raw.scope.methods.clone(),
    };
    for p in &scope.paths {
        if p.matches('*').count() > 4 || p.len() > 256 {
            e("scope.paths", format!("{p:?}: at most 4 wildcards and 256 characters"));
        }
    }
    let mut cidrs = Vec::new();
    for c in &raw.exceptions.cidrs {
        match c.parse::<ipnet::IpNet>().or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)) {
            Ok(n) => cidrs.push(n),
            Err(_) => e("exceptions.cidrs", format!("{c:?} is not a CIDR")),
        }
    }
    for c in &raw.exceptions.countries {
        if c.len() != 2 || !c.chars().all(|x| x.is_ascii_alphabetic()) {
            e("exceptions.countries", format!("{c:?} is not an ISO 3166-1 alpha-2 code"));
        }
    }
    for (i, t) in raw.tests.iter().enumerate() {
        if t.expect != "fire" && t.expect != "no-fire" {
            e(&format!("tests[{i}].expect"), format!("{:?} is not fire or no-fire", t.expect));
        }
    }
    let exceptions = Exceptions {
        cidrs,
        asns: raw.exceptions.asns.clone(),
        countries: raw.exceptions.countries.clone(),
        user_agents: raw.exceptions.user_agents.iter().map(|u| u.to_ascii_lowercase()).collect(),
        subjects: raw.exceptions.subjects.clone(),
        clients: raw.exceptions.clients.clone(),
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Rule {
        id: raw.id.as_str().into(),
        title: raw.title.as_str().into(),
        description: raw.description.clone(),
        severity,
        techniques: techniques.into(),
        tags: raw.tags.clone(),
        falsepositives: raw.falsepositives.clone(),
        detector: detector.expect("no errors means a detector"),
        scope,
        exceptions,
        response,
        dedup_secs,
        confidence,
        tests: raw.tests,
        file: file.into(),
    })
}
