//! `tokenhound rules check|test` and `tokenhound gen`.

use anyhow::Result;

use super::build::{geo, rules, settings};
use super::Outcome;
use crate::cli::{Common, GenArgs};
use crate::selftest;

pub fn run_rules_check(c: &Common) -> Result<Outcome> {
    let s = settings(c, |_| {})?;
    let set = rules(&s)?;
    println!("{} rule(s) OK in {}", set.rules.len(), s.rules_dir.display());
    Ok(Outcome::Ok)
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
