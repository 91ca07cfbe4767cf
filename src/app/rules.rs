//! `tokenhound rules check|test` and `tokenhound gen`.

use anyhow::Result;

use super::build::{geo, rules, settings};
use super::Outcome;
use crate::cli::{Common, GenArgs};
use crate::selftest;

pub fn run_rules_check(c: &Common) -> Result<Outcome> {
    let s = settings(c, |_| {})?;
    let set = rules(&s)?;
    println!("{} rule(s) OK from {}", set.rules.len(), sources(&s));
    Ok(Outcome::Ok)
}

/// `tokenhound rules list`: what is in force, from where.
pub fn run_rules_list(c: &Common) -> Result<Outcome> {
    let s = settings(c, |_| {})?;
    let set = rules(&s)?;
    let w = set.rules.iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
    println!("{:<w$}  {:<8}  {:<24}  SOURCE", "ID", "SEVERITY", "KIND");
    for r in &set.rules {
        let replaces = r.replaces.as_ref().map(|p| format!(" (replaces {p})")).unwrap_or_default();
        // paths and ids are printed to a terminal: no control characters
        let line = format!("{:<w$}  {:<8}  {:<24}  {}{replaces}", r.id, r.severity.as_str(), r.detector.kind(), r.file);
        println!("{}", crate::output::escape_controls(&line));
    }
    println!("{}", crate::output::escape_controls(&format!("{} rule(s) from {}", set.rules.len(), sources(&s))));
    Ok(Outcome::Ok)
}

fn sources(s: &crate::settings::Settings) -> String {
    let mut v = vec![s.rules_dir.as_ref().map_or("the built-in rules".to_string(), |d| d.display().to_string())];
    v.extend(s.extra_rules.iter().map(|d| d.display().to_string()));
    v.join(" + ")
}

pub fn run_rules_test(c: &Common) -> Result<Outcome> {
    let s = settings(c, |_| {})?;
    let set = rules(&s)?;
    let geo = geo(&s)?;
    let results = selftest::run_all(&set, geo.as_ref());
    let failed: Vec<_> = results.iter().filter(|o| !o.passed).collect();
    for o in &results {
        let mark = if o.passed { "ok  " } else { "FAIL" };
        println!("{mark} {} / {}", o.rule_id, o.test);
        if !o.passed {
            println!("     {}: {}", o.file, o.detail);
        }
    }
    println!("{} passed, {} failed", results.len() - failed.len(), failed.len());
    Ok(if failed.is_empty() { Outcome::Ok } else { Outcome::TestsFailed })
}

pub fn run_gen(a: GenArgs) -> Result<Outcome> {
    crate::gen::run(&a)?;
    Ok(Outcome::Ok)
}
