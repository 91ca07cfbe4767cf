//! Scenario folders: `tests/scenarios/<case>/events.ndjson` (tokenhound
//! profile, geo inline) and `expected` (one `time rule token` line per
//! finding, sorted; empty for benign stories), plus an optional
//! `revocations.ndjson`. Each case runs through the real binary, with the
//! claims trusted as a verifying gateway's (`token.trust_gateway_claims`).

mod common;

use common::*;

#[test]
fn every_scenario_gives_exactly_its_expected_findings() {
    let dir = root().join("tests/scenarios");
    let mut cases: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 8, "scenario folders: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let mut args =
            vec!["replay".to_string(), "--rules".into(), "rules".into(), "--profile".into(), "tokenhound".into()];
        let revs = case.join("revocations.ndjson");
        if revs.exists() {
            args.extend(["--revocations".to_string(), revs.display().to_string()]);
        }
        args.push(case.join("events.ndjson").display().to_string());
        // the scenarios' claims are a verifying gateway's: named by iss|jti
        let out = bin().env("TOKENHOUND_TOKEN__TRUST_GATEWAY_CLAIMS", "true").args(&args).output().unwrap();
        if !out.status.success() {
            failures.push(format!("{}: exit {:?}: {}", case.display(), out.status.code(), text(&out.stderr)));
            continue;
        }
        let mut got: Vec<String> = text(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {} {}",
                    v["time_dt"].as_str().unwrap(),
                    v["finding_info"]["analytic"]["uid"].as_str().unwrap(),
                    v["actor"]["session"]["uid"].as_str().unwrap()
                )
            })
            .collect();
        got.sort();
        let expected: Vec<String> =
            std::fs::read_to_string(case.join("expected")).unwrap().lines().map(String::from).collect();
        if got != expected {
            failures.push(format!("{}:\n  expected {expected:#?}\n  got {got:#?}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
