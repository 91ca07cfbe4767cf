//! Rule files to a [`RuleSet`]: typed detector params, validated metadata,
//! and every problem collected with file, rule id and field.

use std::path::{Path, PathBuf};
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
    /// What one finding adds to its token's and subject's risk score.
    pub risk: f32,
    pub tests: Vec<TestCase>,
    /// Where the rule was loaded from (`builtin:NAME.yml` or a path).
    pub file: String,
    /// The rule of the same id this one replaced (`--extra-rules`).
    pub replaces: Option<String>,
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

/// The rule files shipped with tokenhound (rules/*.yml), embedded at build
/// time: the rules in force unless `rules_dir` replaces them.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
}

/// How a built-in rule file is named in messages and `rules list`.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// Load every `*.yml` / `*.yaml` under `dir` (sorted); all errors at once.
pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
    load(Some(dir), &[])
}

/// The built-in rules alone.
pub fn load_builtin() -> Result<RuleSet, RuleErrors> {
    load(None, &[])
}

/// The rules in force: the files of `base` (the built-in rules when `None`),
/// then every `extra` directory in order. A rule of an extra directory whose
/// id is already loaded replaces that rule (a tuned copy of a built-in
/// rule); two files with one id inside one directory are an error.
pub fn load(base: Option<&Path>, extra: &[PathBuf]) -> Result<RuleSet, RuleErrors> {
    let mut errors = Vec::new();
    let mut rules = match base {
        Some(dir) => compile_source(read_dir_files(dir, &mut errors), &mut errors),
        None => {
            let files = builtin::BUILTIN.iter().map(|(n, t)| (format!("{BUILTIN_PREFIX}{n}"), Ok(t.to_string())));
            compile_source(files.collect(), &mut errors)
        }
    };
    for dir in extra {
        for r in compile_source(read_dir_files(dir, &mut errors), &mut errors) {
            match rules.iter_mut().find(|p| p.id == r.id) {
                Some(prev) => {
                    let replaced = std::mem::replace(prev, r);
                    prev.replaces = Some(replaced.file);
                }
                None => rules.push(r),
            }
        }
    }
    if errors.is_empty() {
        Ok(RuleSet::new(rules))
    } else {
        Err(RuleErrors(errors))
    }
}

type SourceFile = (String, Result<String, String>);

fn read_dir_files(dir: &Path, errors: &mut Vec<RuleError>) -> Vec<SourceFile> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(err(&dir.display().to_string(), None, "-", format!("cannot read rules directory: {e}")));
            return Vec::new();
        }
    };
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")));
    files.sort();
    if files.is_empty() {
        errors.push(err(&dir.display().to_string(), None, "-", "no rule files (*.yml) found".into()));
    }
    files.iter().map(|f| (f.display().to_string(), std::fs::read_to_string(f).map_err(|e| e.to_string()))).collect()
}

/// Compile the files of one source; ids are unique within it.
fn compile_source(files: Vec<SourceFile>, errors: &mut Vec<RuleError>) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for (name, text) in files {
        match text {
            Ok(text) => match compile_file(&text, &name) {
                Ok(r) => match rules.iter().find(|p| p.id == r.id) {
                    Some(prev) => {
                        errors.push(err(&r.file, Some(&r.id), "id", format!("duplicate id, also in {}", prev.file)))
                    }
                    None => rules.push(r),
                },
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(RuleError { file: name, rule_id: None, field: "-".into(), message: e }),
        }
    }
    rules
}

/// A rule's risk weight when its file names none.
fn default_risk(s: Severity) -> f32 {
    match s {
        Severity::Informational => 0.0,
        Severity::Low => 10.0,
        Severity::Medium => 30.0,
        Severity::High => 60.0,
        Severity::Critical => 100.0,
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
    let risk = match raw.risk {
        Some(r) if r.is_finite() && (0.0..=1000.0).contains(&r) => r as f32,
        Some(r) => {
            e("risk", format!("{r} must be between 0 and 1000"));
            0.0
        }
        None => default_risk(severity),
    };
    let detector = detector(&raw, &mut e);
    if matches!(detector, Some(Detector::RiskLevelChange(_))) && raw.risk.is_some_and(|r| r != 0.0) {
        e("risk", "a risk-level-change finding adds no risk of its own".into());
    }
    let risk = if matches!(detector, Some(Detector::RiskLevelChange(_))) { 0.0 } else { risk };
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
        risk,
        tests: raw.tests,
        file: file.into(),
        replaces: None,
    })
}
