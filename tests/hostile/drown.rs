//! Drowning: floods that once spent something the real tokens need. A spray
//! of garbage bearers (fingerprint-scope revocations of forgeries anyone can
//! mint) once used up the revocation budget, so the real theft's revocation
//! was parked for a person; promoted cache entries once weighed nothing.

use crate::{common, kong, replay_lines};

const CLAIMS: &str = r#","jwt":{"iss":"https://idp.acme.example","jti":"drown-theft","sub":"victim","exp":1893456000}"#;

/// A config with the sample settings and these `[respond]` lines.
fn config(dir: &std::path::Path, respond: &str) -> std::path::PathBuf {
    let cfg = dir.join("t.toml");
    let base = std::fs::read_to_string(common::root().join("sample-logs/tokenhound.toml")).unwrap();
    std::fs::write(&cfg, format!("{base}\n[respond]\n{respond}\n")).unwrap();
    cfg
}

fn audit(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_spray_of_garbage_bearers_cannot_park_the_real_revocation() {
    let t0 = 1_793_600_000_000u64;
    let mut lines = vec![kong(t0, "198.18.1.23", "REDACTED", 200, CLAIMS)];
    for i in 0..20u64 {
        lines.push(kong(t0 + 1000 + i, "198.18.9.9", &format!("Bearer garbage-{i}"), 401, ""));
    }
    lines.push(kong(t0 + 900_000, "198.18.126.77", "REDACTED", 200, CLAIMS));
    let dir = common::tempdir();
    let cfg = config(
        dir.path(),
        "budget_per_minute = 2\nfingerprint_budget_per_minute = 5\n[respond.webhook]\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"\nalerts = false",
    );
    let au = dir.path().join("audit.ndjson");
    let r = replay_lines(
        &lines,
        &["--config", cfg.to_str().unwrap(), "--profile", "kong", "--respond", "--respond-audit", au.to_str().unwrap()],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.rules().iter().filter(|x| *x == "forged-token").count(), 20);
    let a = audit(&au);
    let outcome = |rule: &str, what: &str| {
        a.iter()
            .filter(|v| v["record"] == "audit" && v["value"]["rule"] == rule && v["value"]["outcome"] == what)
            .count()
    };
    // the theft's revocation goes through (dry-run: would_revoke)
    let seen: Vec<String> =
        a.iter().map(|v| format!("{} {} {}", v["record"], v["value"]["rule"], v["value"]["outcome"])).collect();
    assert_eq!(outcome("impossible-travel", "parked"), 0, "{seen:?}");
    assert!(outcome("impossible-travel", "would_revoke") >= 1, "{seen:?} {:?}", r.rules());
    // the forgeries have a budget of their own, and it still holds
    assert_eq!(outcome("forged-token", "would_revoke"), 5);
    assert_eq!(outcome("forged-token", "parked"), 15);
    let parked = a.iter().filter(|v| v["record"] == "parked").count();
    assert_eq!(parked, 15);
    assert!(r.stderr.contains("fingerprint revocation budget exhausted"), "{}", r.stderr);
}

/// The token caches are bounded by bytes as well as entries (claims are
/// attacker-chosen and long). A hit in the old generation was promoted at
/// the young generation's average weight: with the young one full of tiny
/// entries, large values came back weighing nothing and the byte bound no
/// longer held.
#[test]
fn promoted_cache_entries_keep_their_weight() {
    use tokenhound::token::TwoGenCache;
    let max = 10_000;
    let mut c: TwoGenCache<u32, Vec<u8>> = TwoGenCache::new(1_000_000).with_max_bytes(max);
    let big = |k: u32| 1_000_000 + k;
    for round in 0..50u32 {
        c.insert_weighed(big(round), vec![0; 4096], 4096);
        for t in 0..100 {
            c.insert_weighed(round * 1000 + t, vec![0; 1], 1);
        }
        for b in 0..=round {
            let _ = c.get(&big(b));
        }
    }
    let bigs = (0..50).filter(|&b| c.contains(&big(b))).count();
    let held = bigs * 4096 + c.len() - bigs;
    assert!(held <= 2 * max + 4096, "{bigs} large values held ({held} bytes) under a bound of 2 x {max}");
}

/// Risk signals have a budget of their own: a flood of step-ups (a broken
/// GeoIP database making every subject HIGH) is parked with a storm alert,
/// and spends nothing of the revocation budget.
#[test]
fn a_flood_of_risk_signals_is_budgeted_apart() {
    let dir = common::tempdir();
    let cfg = config(dir.path(), "budget_per_minute = 100\nrisk_budget_per_minute = 1");
    let au = dir.path().join("audit.ndjson");
    let out = common::bin()
        .args(["replay", "--config", cfg.to_str().unwrap(), "--revocations", "sample-logs/revocations.ndjson"])
        .args(["--respond", "--respond-audit", au.to_str().unwrap(), "sample-logs/logs"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let a = audit(&au);
    let risk: Vec<&serde_json::Value> =
        a.iter().filter(|v| v["record"] == "parked" && v["value"]["scope"] == "risk").collect();
    // four subjects reach HIGH in the sample: one signal goes, three wait
    assert_eq!(risk.len(), 3, "{a:?}");
    assert!(a.iter().all(|v| !(v["record"] == "parked" && v["value"]["scope"] != "risk")), "no revocation parked");
    assert!(common::text(&out.stderr).contains("risk signal budget exhausted"), "{}", common::text(&out.stderr));
}

/// Investigate once detailed every token the engine found anything on: a
/// spray of 200 k forged tokens (one `forged-token` finding each) held
/// 2.2 GB and wrote a 270 MB report; two million would not have fit. Now the
/// first 1,000 forged tokens are detailed, the rest counted by rule, and the
/// real theft among them keeps its incident.
#[test]
fn a_spray_of_forged_tokens_cannot_drown_investigate() {
    let t0 = 1_793_600_000_000u64;
    let mut lines = vec![kong(t0, "198.18.1.23", "REDACTED", 200, CLAIMS)];
    for i in 0..3000u64 {
        let forged =
            crate::none_token(&format!(r#"{{"iss":"https://idp.acme.example","jti":"spray-{i}","sub":"ceo"}}"#));
        lines.push(kong(t0 + 1000 + i, "198.18.9.9", &format!("Bearer {forged}"), 401, ""));
    }
    lines.push(kong(t0 + 900_000, "198.18.126.77", "REDACTED", 200, CLAIMS));
    let dir = common::tempdir();
    let log = dir.path().join("spray.ndjson");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("report");
    let mut a: Vec<String> = vec!["investigate".into(), "--profile".into(), "kong".into()];
    a.extend(["--out".into(), out.display().to_string()]);
    a.extend(common::sample_flags());
    a.push(log.display().to_string());
    let o = common::bin().args(&a).output().unwrap();
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let incidents = r["incidents"].as_array().unwrap();
    let forged = incidents.iter().filter(|i| i["rules"] == serde_json::json!(["forged-token"])).count();
    assert_eq!(forged, 1000, "the first 1,000 forged tokens are detailed");
    // (claims nobody vouched for are named by a fingerprint)
    let others: Vec<&serde_json::Value> =
        incidents.iter().filter(|i| i["rules"] != serde_json::json!(["forged-token"])).collect();
    assert_eq!(others.len(), 1, "the theft is detailed: {others:?}");
    assert!(others[0]["blast_radius"]["requests"].as_u64().unwrap() >= 1, "{}", others[0]);
    assert_eq!(r["not_detailed"]["forged-token"], 2000, "{}", r["not_detailed"]);
    // the spray's other tokens share its address: scored by the pivot, listed up to the budget
    let listed = r["likely_also_compromised"].as_array().unwrap().len() as u64;
    let more = r["likely_also_compromised_not_listed"].as_u64().unwrap_or(0);
    assert!(listed <= 10_000 && listed + more >= 2000, "{listed} listed, {more} more");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("2000 more findings on tokens past the 10000 detailed"), "{}", &md[..400.min(md.len())]);
}
