//! `tokenhound gen --shape full`: Kong's whole log object (~1 KB a record,
//! kafka-log batches among single records, half the tokens raw RS256 and
//! half logged claims) carries the same requests as the lean shape, so a
//! replay finds the same thefts, every planted one.

mod common;

use std::collections::BTreeSet;

use common::*;

fn findings(log: &std::path::Path) -> BTreeSet<(String, String)> {
    // (finding uid, rule)
    let out = bin()
        .args(["replay", "--jwks", "sample-logs/keys/idp-jwks.json", "--geo-city", "sample-logs/geo/sample-city.mmdb"])
        .args(["--geo-asn", "sample-logs/geo/sample-asn.mmdb"])
        .arg(log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["finding_info"]["uid"].as_str().unwrap().to_string(), v["finding_info"]["analytic"]["uid"].to_string())
        })
        .collect()
}

#[test]
fn full_kong_shape_replays_like_the_lean_one() {
    let dir = tempdir();
    let gen = |shape: &str| {
        let log = dir.path().join(format!("{shape}.ndjson"));
        let truth = dir.path().join(format!("{shape}.truth"));
        let out = run(&[
            "gen",
            "--profile",
            "kong",
            "--mode",
            "mixed",
            "--shape",
            shape,
            "--lines",
            "30000",
            "--seed",
            "11",
            "-o",
            log.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (log, std::fs::read_to_string(truth).unwrap())
    };
    let (lean, lean_truth) = gen("lean");
    let (full, full_truth) = gen("full");
    assert_eq!(lean_truth, full_truth, "the same requests");
    let body = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let batches = lines.iter().filter(|l| l.starts_with('[')).count();
    assert!(batches > lines.len() / 20, "kafka-log batches: {batches} of {}", lines.len());
    let per_record = body.len() / 30000;
    assert!((900..2000).contains(&per_record), "~1 KB a record: {per_record} bytes");
    let raw = body.matches("\"Bearer ey").count();
    let claims = body.matches(",\"jwt\":{").count();
    assert!(raw > 5000 && claims > 5000, "mixed raw {raw} / claims {claims}");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON");
    }
    let (a, b) = (findings(&lean), findings(&full));
    assert!(a.len() >= 10, "{a:?}");
    assert_eq!(a, b);
    // every planted theft a rule can see is found
    for t in full_truth.lines() {
        let t: serde_json::Value = serde_json::from_str(t).unwrap();
        let tok = t["token"].as_str().unwrap_or_default();
        for rule in t["expected_rules"].as_array().unwrap() {
            let rule = rule.as_str().unwrap();
            if rule == "revoked-use" {
                continue; // needs the revocations file
            }
            assert!(b.iter().any(|(_, r)| r.contains(rule)), "planted {rule} on {tok} not found");
        }
    }
}
