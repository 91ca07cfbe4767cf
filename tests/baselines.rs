//! Per-subject baselines, live: a generated log of weeks of history in which
//! some tokens are stolen at issuance and used only by a thief abroad (the
//! victim never uses them), beside benign travellers, commuters and new
//! phones. Replay catches every silent theft with `new-place-for-subject`,
//! accuses no commuter or new phone, and the stream gives the same findings.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{bin, run, tempdir};
use serde_json::Value;

struct Story {
    alerts: Vec<Value>,
    truth: Vec<Value>,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn story(seed: &str, users: &str, extra: &[&str]) -> Story {
    let dir = tempdir();
    let (log, truth) = (dir.path().join("story.ndjson"), dir.path().join("truth.ndjson"));
    let mut a = vec!["gen", "--story", "subjects", "--users", users, "--seed", seed, "-o", log.to_str().unwrap()];
    a.extend(["--truth", truth.to_str().unwrap()]);
    a.extend(extra);
    let g = run(&a);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let out = bin().args(["replay", "--config", "sample-logs/tokenhound.toml"]).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let truth = std::fs::read_to_string(&truth).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Story { alerts, truth, log, _dir: dir }
}

fn rule(a: &Value) -> &str {
    a["finding_info"]["analytic"]["uid"].as_str().unwrap_or("")
}

fn token(a: &Value) -> String {
    a["actor"]["session"]["uid"].as_str().unwrap_or("").to_string()
}

fn subject(a: &Value) -> String {
    a["actor"]["user"]["uid"].as_str().unwrap_or("").to_string()
}

#[test]
fn every_silent_theft_is_caught_live_and_no_commuter_or_new_phone_is_accused() {
    for (seed, format) in [("3", "claims"), ("8", "raw")] {
        let s = story(seed, "240", &["--mode", format]);
        let new_place: Vec<&Value> = s.alerts.iter().filter(|a| rule(a) == "new-place-for-subject").collect();
        let by_token: BTreeSet<String> = new_place.iter().map(|a| token(a)).collect();
        let kinds = |k: &'static str| s.truth.iter().filter(move |t| t["kind"] == k);
        let thefts: Vec<&Value> = kinds("issuance-theft").collect();
        assert!(thefts.len() >= 10, "the story plants silent thefts ({})", thefts.len());
        for t in &thefts {
            assert!(
                by_token.contains(t["token"].as_str().unwrap()),
                "{format}: silent theft {} not caught: {:?}",
                t["token"],
                new_place.iter().map(|a| token(a)).collect::<Vec<_>>()
            );
        }
        // no other rule can see these thefts (the victim never uses the token)
        let stolen: BTreeSet<&str> = thefts.iter().map(|t| t["token"].as_str().unwrap()).collect();
        for a in &s.alerts {
            if stolen.contains(token(a).as_str()) {
                assert!(["new-place-for-subject", "risk-level-change"].contains(&rule(a)), "{}", rule(a));
            }
        }
        // the benign: commuters and new phones are never accused; travellers
        // are (the rule's known false positive), once a trip
        let quiet: BTreeSet<String> = kinds("benign-commuter")
            .chain(kinds("benign-new-phone"))
            .map(|t| t["sub"].as_str().unwrap().to_string())
            .collect();
        assert!(quiet.len() >= 10, "commuters and new phones in the story ({})", quiet.len());
        for a in &new_place {
            assert!(!quiet.contains(&subject(a)), "{format}: benign subject {} accused: {}", subject(a), a["message"]);
        }
        let mut per_trip: BTreeMap<String, usize> = BTreeMap::new();
        let travellers: BTreeSet<String> = kinds("benign-trip").map(|t| t["sub"].as_str().unwrap().into()).collect();
        for a in &new_place {
            if travellers.contains(&subject(a)) {
                *per_trip.entry(subject(a)).or_default() += 1;
            }
        }
        assert!(per_trip.values().all(|n| *n == 1), "{format}: one alert per trip: {per_trip:?}");
        let benign_subjects = 240 - thefts.len();
        let fp = new_place.len() - thefts.len();
        eprintln!(
            "{format}: {} silent thefts caught of {}; false alerts {fp} on {benign_subjects} benign subjects ({:.1} %), all on travellers",
            thefts.len(),
            thefts.len(),
            100.0 * fp as f64 / benign_subjects as f64
        );
        assert_eq!(fp, per_trip.values().sum::<usize>(), "every false alert is a trip abroad");
        let _ = &s.log;
    }
}

#[test]
fn unverified_tokens_neither_learn_nor_move_a_subject() {
    // the same story without trusting the gateway's claims: nothing is
    // vouched, so no subject has a baseline and nothing fires on one
    let s = story("3", "60", &[]);
    assert!(s.alerts.iter().any(|a| rule(a) == "new-place-for-subject"));
    let dir = tempdir();
    let cfg = dir.path().join("untrusted.toml");
    let base = std::fs::read_to_string("sample-logs/tokenhound.toml").unwrap();
    std::fs::write(&cfg, base.replace("trust_gateway_claims = true", "trust_gateway_claims = false")).unwrap();
    let out = bin().args(["replay", "--config"]).arg(&cfg).arg(&s.log).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("new-place-for-subject"), "unvouched claims built a baseline");
    assert!(!text.contains("\"scope\":\"subject\""), "unvouched claims moved a subject's risk");
}

#[test]
fn a_replay_of_last_week_starts_from_the_baseline_of_the_week_before() {
    let s = story("4", "120", &[]);
    let text = std::fs::read_to_string(&s.log).unwrap();
    // split at day 9 of the story (2026-11-11T00:00Z): the thefts come after
    let cut: i64 = 1_794_355_200_000;
    let at = |l: &str| serde_json::from_str::<Value>(l).unwrap()["started_at"].as_i64().unwrap();
    let (before, after): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| at(l) < cut);
    assert!(!before.is_empty() && !after.is_empty());
    let dir = tempdir();
    let (w1, w2, base) = (dir.path().join("w1.ndjson"), dir.path().join("w2.ndjson"), dir.path().join("base.ndjson"));
    std::fs::write(&w1, before.join("\n") + "\n").unwrap();
    std::fs::write(&w2, after.join("\n") + "\n").unwrap();
    let replay = |log: &std::path::Path, baseline: Option<&std::path::Path>, threads: &str| -> Vec<Value> {
        let mut c = bin();
        c.args(["replay", "--config", "sample-logs/tokenhound.toml", "--threads", threads]);
        if let Some(b) = baseline {
            c.arg("--baseline").arg(b);
        }
        let out = c.arg(log).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let new_place = |a: &[Value]| -> BTreeSet<String> {
        a.iter().filter(|a| rule(a) == "new-place-for-subject").map(|a| a["finding_info"]["uid"].to_string()).collect()
    };
    let whole: BTreeSet<String> =
        new_place(&s.alerts.iter().filter(|a| a["time"].as_i64().unwrap() >= cut).cloned().collect::<Vec<_>>());
    assert!(!whole.is_empty());
    // without the week before, nobody is past the learning period
    assert!(new_place(&replay(&w2, None, "1")).is_empty());
    // with it (saved by one replay on 2 threads, loaded by the next on 1)
    replay(&w1, Some(&base), "2");
    let saved = std::fs::read_to_string(&base).unwrap();
    assert!(saved.lines().count() > 100, "a subject a line after the header");
    assert!(!saved.contains("\"jti\""), "no token identity in a baseline");
    let second = replay(&w2, Some(&base), "1");
    assert_eq!(new_place(&second), whole, "the split replay finds what the whole one does");
    // an edited file cannot freeze a subject nor blow its lists up
    let edited: String = saved
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                return l.to_string() + "\n";
            }
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["baseline"]["upto"] = serde_json::json!(i64::MAX);
            let junk: Vec<Value> = (0..5000u64)
                .map(|k| serde_json::json!({"key": 1_000_000 + k, "weight": 1e30, "first": 0, "last": u32::MAX}))
                .collect();
            v["baseline"]["countries"].as_array_mut().unwrap().extend(junk);
            v.to_string() + "\n"
        })
        .collect();
    std::fs::write(&base, edited).unwrap();
    let third = replay(&w2, Some(&base), "1");
    assert_eq!(new_place(&third), whole, "an edited baseline changes nothing the real one decides");
    std::fs::write(&base, &saved).unwrap();
    // a damaged file is an error naming its line
    std::fs::write(&base, saved.lines().take(3).collect::<Vec<_>>().join("\n") + "\n{oops\n").unwrap();
    let out = bin()
        .args(["replay", "--config", "sample-logs/tokenhound.toml", "--baseline"])
        .arg(&base)
        .arg(&w2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("base.ndjson:4"), "{}", String::from_utf8_lossy(&out.stderr));
}
