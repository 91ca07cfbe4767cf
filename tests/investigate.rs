//! `tokenhound investigate` against the generator's ground truth: every
//! stolen token listed with its exact blast radius, the silent thefts found
//! by the pivot, the planted root cause first; the same from the Parquet copy
//! a CSV copy and an alerts file; and the HTML report rendered by headless Chromium.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

fn gen(dir: &Path) -> (String, String, Vec<Value>) {
    let log = dir.join("gen.ndjson");
    let truth = dir.join("truth.ndjson");
    let revs = dir.join("revs.ndjson");
    let out = common::bin()
        .args(["gen", "--lines", "30000", "--seed", "3", "-o"])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .arg("--revocations")
        .arg(&revs)
        .output()
        .unwrap();
    assert!(out.status.success());
    let truth = std::fs::read_to_string(&truth).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (log.to_str().unwrap().into(), revs.to_str().unwrap().into(), truth)
}

fn investigate(args: &[&str], out: &Path) -> Value {
    let o = common::bin()
        .args(["investigate", "--config", "sample-logs/tokenhound.toml", "--out", out.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// Every planted theft: listed (or pivoted to, when silent), blast radius exact.
fn check_against_truth(r: &Value, truth: &[Value]) {
    let incidents: BTreeMap<&str, &Value> =
        r["incidents"].as_array().unwrap().iter().map(|i| (i["token"].as_str().unwrap(), i)).collect();
    let pivot: Vec<&str> =
        r["likely_also_compromised"].as_array().unwrap().iter().map(|s| s["token"].as_str().unwrap()).collect();
    for t in truth {
        let tok = t["token"].as_str().unwrap();
        if t["kind"] == "silent" {
            assert!(pivot.contains(&tok), "silent theft {tok} not found by the pivot: {pivot:?}");
            assert!(!incidents.contains_key(tok), "no rule fires on a silent theft");
            continue;
        }
        let inc = incidents.get(tok).unwrap_or_else(|| panic!("stolen token {tok} ({}) not listed", t["kind"]));
        let b = &inc["blast_radius"];
        assert_eq!(b["requests"], t["attack_requests"], "{tok} ({}): attacker requests", t["kind"]);
        let mut got: Vec<String> = b["routes"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(k, n)| {
                std::iter::repeat_n(k.split_once(' ').unwrap().1.to_string(), n.as_u64().unwrap() as usize)
            })
            .collect();
        let mut want: Vec<String> =
            t["attack_paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().into()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{tok}: resources reached");
        let asns: Vec<u64> =
            inc["infrastructure"]["asns"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
        assert_eq!(
            asns,
            t["attacker_asns"].as_array().unwrap().iter().map(|a| a.as_u64().unwrap()).collect::<Vec<_>>()
        );
    }
    // no benign token is accused: incidents and pivot hold only planted thefts
    let planted: Vec<&str> = truth.iter().map(|t| t["token"].as_str().unwrap()).collect();
    for tok in incidents.keys().chain(pivot.iter()) {
        assert!(planted.contains(tok), "{tok} is not a planted theft");
    }
    // the planted cause ranks first
    let top = &r["root_causes"][0];
    assert_eq!(top["attribute"], "client and app version", "{top}");
    assert_eq!(top["value"], "mobile-android AcmeMobile/3.2.1 on Android");
    assert!(top["lift"].as_f64().unwrap() > 3.0);
    assert!(top["statement"].as_str().unwrap().contains("stolen tokens were first used with"));
}

#[test]
fn ground_truth_blast_radius_pivot_and_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (log, revs, truth) = gen(dir.path());
    let out = dir.path().join("report");
    let r = investigate(&["--revocations", &revs, &log], &out);
    check_against_truth(&r, &truth);
    // revocation requests for every incident and suspect, in the respond format
    let reqs = std::fs::read_to_string(out.join("revocation-requests.ndjson")).unwrap();
    assert_eq!(reqs.lines().count(), truth.len());
    for l in reqs.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["scope"], "token");
        assert!(v["idempotency_key"].as_str().is_some());
    }
    assert!(!r["password_resets"].as_array().unwrap().is_empty());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Root cause hypotheses") && md.contains("mobile-android AcmeMobile/3.2.1 on Android"));

    // the Parquet copy written by the first run gives the same answers
    let out2 = dir.path().join("from-parquet");
    let r2 = investigate(&["--revocations", &revs, out.join("events.parquet").to_str().unwrap()], &out2);
    check_against_truth(&r2, &truth);
    assert_eq!(r2["incidents"].as_array().unwrap().len(), r["incidents"].as_array().unwrap().len());

    // and a CSV of the same events (export --csv; time in RFC 3339)
    let csv = dir.path().join("events.csv");
    let o = common::bin()
        .args(["export", "--config", "sample-logs/tokenhound.toml", "--csv"])
        .arg(&csv)
        .arg(&log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // with its rows reversed, so the events must be sorted before the engine sees them
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.reverse();
    std::fs::write(&csv, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    let r4 = investigate(&["--revocations", &revs, csv.to_str().unwrap()], &dir.path().join("from-csv"));
    check_against_truth(&r4, &truth);

    // and so does an alerts file from replay
    let alerts = dir.path().join("alerts.ndjson");
    let o = common::bin()
        .args(["replay", "--config", "sample-logs/tokenhound.toml", "--revocations", &revs, "-o"])
        .arg(&alerts)
        .arg(&log)
        .output()
        .unwrap();
    assert!(o.status.success());
    // (the engine runs on the same events and revocations: its verdicts tell the sides)
    let r3 = investigate(
        &["--alerts", alerts.to_str().unwrap(), "--revocations", &revs, &log],
        &dir.path().join("from-alerts"),
    );
    check_against_truth(&r3, &truth);
}

/// The HTML report in headless Chromium (Debian's `chromium`): rendered to a
/// screenshot, no console message, the charts in the DOM.
#[test]
fn html_report_renders_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    if std::process::Command::new(&chromium).arg("--version").output().is_err() {
        assert!(std::env::var("TEST_REQUIRE_KAFKA").is_err(), "chromium is required here");
        eprintln!("skipped: no chromium");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (log, revs, _) = gen(dir.path());
    let out = dir.path().join("report");
    investigate(&["--revocations", &revs, &log], &out);
    let page = format!("file://{}", out.join("report.html").display());
    let shot = dir.path().join("report.png");
    let run = |extra: &[&str]| {
        std::process::Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
            .args(["--enable-logging=stderr", "--v=0", "--window-size=1280,2400"])
            .args(extra)
            .arg(&page)
            .output()
            .expect("run chromium")
    };
    let o = run(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "a blank page would be tiny ({} bytes)", png.len());
    let o = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    assert!(dom.contains("<svg class=\"map\""), "the map is in the DOM");
    assert!(dom.matches("<svg class=\"timeline\"").count() >= 10, "a timeline per incident");
    assert!(dom.contains("id=\"root-cause\"") && dom.contains("id=\"pivot\""));
    // keep the screenshot where a person can look at it
    let keep = std::env::temp_dir().join("tokenhound-report.png");
    let _ = std::fs::copy(&shot, keep);
}
