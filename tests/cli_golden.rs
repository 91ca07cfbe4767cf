//! Golden CLI output for the sample logs, and the promise of
//! sample-logs/README.md: each subject gets exactly the alerts listed.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

/// Replay the samples with the default settings (`trusted`: with
/// `token.trust_gateway_claims`, as sample-logs/tokenhound.toml says of the
/// Kong gateway that logged them).
fn replay_as(format: &str, trusted: bool) -> (String, String) {
    let mut args = vec!["replay".to_string(), "--format".into(), format.into()];
    args.extend(sample_flags());
    args.push("sample-logs/logs".into());
    let mut cmd = bin();
    if trusted {
        cmd.env("TOKENHOUND_TOKEN__TRUST_GATEWAY_CLAIMS", "true");
    }
    let out = cmd.args(&args).output().expect("run");
    assert!(out.status.success(), "replay failed: {}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

fn replay(format: &str) -> (String, String) {
    replay_as(format, false)
}

#[test]
fn sample_alerts_match_golden_ocsf_and_table() {
    let (ocsf, stderr) = replay("ocsf");
    golden(&root().join("tests/golden/sample-alerts.ocsf.ndjson"), &ocsf);
    let (table, _) = replay("table");
    golden(&root().join("tests/golden/sample-alerts.table.txt"), &table);
    let (ecs, _) = replay("ecs");
    golden(&root().join("tests/golden/sample-alerts.ecs.ndjson"), &ecs);
    assert!(stderr.contains("37 lines"), "summary on stderr: {stderr}");
    assert!(stderr.contains("findings: 9"), "summary on stderr: {stderr}");
    // claims nobody vouched for (the default: the gateway is not marked as
    // verifying) name no actor and no iss|jti: they are the sender's words
    let mut unvouched = 0;
    for line in ocsf.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["unmapped"]["tokenhound"]["token_vouched"] == false {
            assert!(v["actor"]["user"].is_null(), "{line}");
            assert!(v["actor"]["session"]["uid"].as_str().unwrap().starts_with("fp:"), "{line}");
            unvouched += 1;
        }
    }
    assert_eq!(unvouched, 8, "the Kong stories' claims and the forgeries");
}

#[test]
fn sample_readme_promises_exactly_these_alerts() {
    let readme = std::fs::read_to_string(root().join("sample-logs/README.md")).unwrap();
    let mut promised: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in readme.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| story")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (subject, alerts) = (cells[3], cells[4]);
        if subject == "-" || subject.is_empty() {
            continue;
        }
        let set = alerts.split(',').map(str::trim).filter(|a| *a != "-" && !a.is_empty()).map(String::from).collect();
        promised.insert(subject.to_string(), set);
    }
    assert!(promised.len() >= 12, "README table parsed: {promised:?}");
    // the stories' subjects, as the verifying gateway vouched for them
    let (ocsf, _) = replay_as("ocsf", true);
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in ocsf.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        // a forged token's subject is a claim, shown as `?claimed`
        let sub = match (v["actor"]["user"]["uid"].as_str(), v["unmapped"]["tokenhound"]["claimed"]["sub"].as_str()) {
            (Some(s), _) => s.to_string(),
            (None, Some(c)) => format!("?{c}"),
            (None, None) => "-".into(),
        };
        let rule = v["finding_info"]["analytic"]["uid"].as_str().unwrap().to_string();
        got.entry(sub).or_default().insert(rule);
    }
    for (sub, rules) in &got {
        assert_eq!(promised.get(sub), Some(rules), "alerts for {sub}");
    }
    for (sub, rules) in &promised {
        assert_eq!(got.get(sub).cloned().unwrap_or_default(), *rules, "README promises {rules:?} for {sub}");
    }
}

#[test]
fn ocsf_shape_is_a_detection_finding() {
    let (ocsf, _) = replay_as("ocsf", true);
    let first: serde_json::Value = serde_json::from_str(ocsf.lines().next().unwrap()).unwrap();
    assert_eq!(first["class_uid"], 2004);
    assert_eq!(first["category_uid"], 2);
    assert_eq!(first["activity_id"], 1);
    assert_eq!(first["type_uid"], 200401);
    assert_eq!(first["metadata"]["version"], "1.8.0");
    assert_eq!(first["metadata"]["product"]["name"], "tokenhound");
    assert_eq!(first["finding_info"]["analytic"]["type_id"], 1);
    assert_eq!(first["actor"]["session"]["uid"], "https://idp.acme.example|a1b2c3d4-alice");
    assert_eq!(first["actor"]["user"]["uid"], "alice");
    let ev = first["evidences"].as_array().unwrap();
    assert_eq!(ev.len(), 2, "both ends of the travel");
    assert_eq!(ev[0]["src_endpoint"]["location"]["city"], "London");
    assert_eq!(ev[1]["src_endpoint"]["location"]["city"], "Singapore");
    assert_eq!(ev[1]["src_endpoint"]["autonomous_system"]["number"], 64900);
    assert!(ev[1]["data"]["source"].as_str().unwrap().ends_with("kong/stories.ndjson:10"));
    assert!(first["unmapped"]["tokenhound"]["details"]["speed_kmh"].as_f64().unwrap() > 1000.0);
}

#[test]
fn finding_uids_are_deterministic_across_runs_and_threads() {
    let mut args = vec!["replay".to_string(), "--threads".into(), "1".into()];
    args.extend(sample_flags());
    args.push("sample-logs/logs".into());
    let one = text(&bin().args(&args).output().unwrap().stdout);
    args[2] = "3".into();
    let three = text(&bin().args(&args).output().unwrap().stdout);
    assert_eq!(one, three);
    assert!(!one.is_empty());
}

fn requests(trust_gateway_claims: bool) -> Vec<serde_json::Value> {
    let dir = tempdir();
    let req = dir.path().join("req.ndjson");
    let mut args = vec![
        "replay".to_string(),
        "--revocation-requests".into(),
        req.display().to_string(),
        "-o".into(),
        dir.path().join("a").display().to_string(),
    ];
    args.extend(sample_flags());
    args.push("sample-logs/logs".into());
    let mut cmd = bin();
    if trust_gateway_claims {
        cmd.env("TOKENHOUND_TOKEN__TRUST_GATEWAY_CLAIMS", "true");
    }
    assert!(cmd.args(&args).output().unwrap().status.success());
    std::fs::read_to_string(&req).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn revocation_requests_for_revoking_rules() {
    // claims nobody vouched for revoke nothing by name: neither the jti
    // they claim (a forged copy would revoke the real token) nor a subject
    let lines = requests(false);
    assert!(lines.iter().all(|l| l["scope"] == "fingerprint"), "{lines:?}");
    let trusted = requests(true);
    // impossible-travel and concurrent-use revoke the token
    let alice = trusted.iter().find(|l| l["jti"] == "a1b2c3d4-alice").expect("alice's token");
    assert_eq!(alice["scope"], "token");
    assert_eq!(alice["key"], "https://idp.acme.example|a1b2c3d4-alice");
    assert!(alice["exp"].as_i64().is_some());
    // revoked-use asks for the subject: the gateway's claims are trusted
    let carol = trusted.iter().find(|l| l["sub"] == "carol").expect("carol's subject");
    assert_eq!(carol["scope"], "subject");
    assert_eq!(carol["key"], "https://idp.acme.example|sub|carol");
    // a forgery revokes its own bytes, and names nobody
    for l in lines.iter().chain(&trusted).filter(|l| l["rule"] == "forged-token") {
        assert_eq!(l["scope"], "fingerprint", "{l}");
        assert_eq!(l["sha256"].as_str().map(str::len), Some(43));
        assert!(l.get("sub").is_none() && l.get("jti").is_none() && l.get("iss").is_none(), "{l}");
    }
    assert_eq!(lines.iter().filter(|l| l["rule"] == "forged-token").count(), 2);
    assert!(trusted.iter().all(|l| l["idempotency_key"].is_string() && l["finding_uid"].is_string()));
    assert!(trusted.iter().all(|l| l["rule"] != "ua-drift"), "ua-drift only alerts");
}
