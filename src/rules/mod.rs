//! Rules: one YAML file per rule (Sigma-like metadata, a detector kind and
//! its params, scope, exceptions, response, inline tests), parsed strictly
//! and compiled into types that cannot hold invalid values. Every error names
//! the file, the rule id and the field; a directory reports all errors at once.

mod compile;
mod matchers;
mod params;
mod schema;

pub use compile::{builtin, compile_file, load, load_builtin, load_dir, Rule, RuleSet, BUILTIN_PREFIX};
pub use matchers::{glob, Exceptions, Scope};
pub use params::{Detector, IpDriftParams, NewPlaceParams, Place, RiskChangeParams, TravelParams, UaDriftParams};
pub use schema::{RuleFile, TestCase};

/// One problem in one rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub file: String,
    pub rule_id: Option<String>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.rule_id.as_deref().unwrap_or("?");
        write!(f, "{}: rule {id}: {}: {}", self.file, self.field, self.message)
    }
}

/// All the problems found, one per line when displayed.
#[derive(Debug, Clone, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl std::fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} problem(s) in rules:", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Parse `90`, `90s`, `5m`, `1h`, `2d` into seconds.
///
/// ```
/// assert_eq!(tokenhound::rules::parse_duration("5m"), Ok(300));
/// assert!(tokenhound::rules::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86_400),
        _ => (t, 1),
    };
    match num.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n.saturating_mul(mult)),
        _ => Err(format!("{s:?} is not a duration (e.g. 90s, 5m, 1h, 2d)")),
    }
}
