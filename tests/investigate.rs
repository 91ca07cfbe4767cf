//! `tokenhound investigate` against the generator's ground truth: every
//! stolen token listed with its exact blast radius, the silent thefts found
//! by the pivot, the planted root cause first; the same from the Parquet copy
//! a CSV copy and an alerts file; and the HTML report rendered by headless Chromium.

#[path = "investigate/campaign.rs"]
mod campaign;
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
    // the top of the page, decoded: a world map (land and sea) with owner and attacker dots on it
    let top = dir.path().join("top.png");
    let o = run(&[&format!("--screenshot={}", top.display()), "--window-size=1280,800"]);
    let file =
        std::fs::File::open(&top).unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&o.stderr)));
    let (w, px) = rgb_pixels(file);
    let is = |p: &[u8; 3], hex: &str| {
        let c = u32::from_str_radix(&hex[1..], 16).unwrap();
        let want = [(c >> 16) as u8, (c >> 8) as u8, c as u8];
        p.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 6)
    };
    let land: Vec<usize> = (0..px.len()).filter(|&i| is(&px[i], "#dfe3e8")).collect();
    assert!(land.len() > 20_000, "the continents are drawn: {} land pixels", land.len());
    // inside the land's bounding box (the map), both kinds of use
    let (x0, x1) = (land.iter().map(|i| i % w).min().unwrap(), land.iter().map(|i| i % w).max().unwrap());
    let (y0, y1) = (land[0] / w, land[land.len() - 1] / w);
    assert!(x1 - x0 > 800 && y1 - y0 > 250, "a world-sized map: {x0}..{x1} x {y0}..{y1}");
    let count =
        |hex: &str| (y0..=y1).flat_map(|y| (x0..=x1).map(move |x| y * w + x)).filter(|&i| is(&px[i], hex)).count();
    let (owner, attacker, sea) = (count("#1f77b4"), count("#d62728"), count("#f2f6fa"));
    assert!(owner > 100 && attacker > 100 && sea > 20_000, "owner {owner}, attacker {attacker}, sea {sea} pixels");
    let _ = std::fs::copy(&top, std::env::temp_dir().join("tokenhound-report-top.png"));
    // keep the screenshot where a person can look at it
    let keep = std::env::temp_dir().join("tokenhound-report.png");
    let _ = std::fs::copy(&shot, keep);
}

/// A PNG's pixels as RGB, with its width.
fn rgb_pixels(file: std::fs::File) -> (usize, Vec<[u8; 3]>) {
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    assert!(step >= 3, "a colour screenshot ({:?})", info.color_type);
    let px = buf[..info.buffer_size()].chunks(step).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width as usize, px)
}

/// MaxMind's test databases (vendored in tests/data/maxmind-test).
fn maxmind_city() -> Option<std::path::PathBuf> {
    let f = common::maxmind_dir().join("GeoLite2-City-Test.mmdb");
    assert!(f.exists(), "no {}", f.display());
    Some(f)
}

/// P(X >= k), X ~ Hypergeometric(all, with, draws), by the pmf's own
/// recurrence (an implementation apart from the report's).
fn upper_tail(k: u64, draws: u64, with: u64, all: u64) -> f64 {
    let lo = draws.saturating_sub(all - with);
    // pmf(lo) = C(with, lo) C(all-with, draws-lo) / C(all, draws), then pmf(x+1)/pmf(x)
    let ln_c = |n: u64, r: u64| -> f64 { (0..r).map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln()).sum() };
    let mut pmf = (ln_c(with, lo) + ln_c(all - with, draws - lo) - ln_c(all, draws)).exp();
    let mut tail = 0.0;
    for x in lo..=draws.min(with) {
        if x >= k {
            tail += pmf;
        }
        let ratio = ((with - x) * (draws - x)) as f64 / ((x + 1) * (all - with + x + 1 - draws)) as f64;
        pmf *= ratio;
    }
    tail
}

fn lifts_in_tables(md: &str, html: &str) -> Vec<f64> {
    // Markdown: the root-cause table's lift column (6th cell)
    let mut lifts: Vec<f64> = md
        .split("## Root cause hypotheses")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .map(|l| l.split(" | ").nth(5).unwrap().trim().parse().unwrap())
        .collect();
    // HTML: the root-cause table's rows
    let table = html.split("id=\"root-cause\"").nth(1).unwrap().split("</table>").next().unwrap();
    for row in table.split("<tr><td>").skip(1) {
        lifts.push(row.split("</td><td>").nth(5).unwrap().parse().unwrap());
    }
    lifts
}

/// The campaign: every theft's blast radius exact without an ASN database
/// and with the victim's own browser, the silent ones found, the reporting
/// job named as baseline and not accused, the planted cause first with its
/// p-value, no hypothesis with lift <= 1 anywhere.
#[test]
fn campaign_blast_radius_baseline_and_root_cause_with_city_data_only() {
    let Some(city) = maxmind_city() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("campaign.ndjson");
    let c = campaign::write(&log);
    // kept where a person can rerun it (`tokenhound investigate` on it)
    let _ = std::fs::copy(&log, std::env::temp_dir().join("tokenhound-campaign.ndjson"));
    let cfg = dir.path().join("campaign.toml");
    std::fs::write(
        &cfg,
        format!(
            "profile = \"tokenhound\"\n[geo]\ncity = {:?}\n[token]\nidentity_key = \"campaign-identity-key-0123456789\"\ntrust_gateway_claims = true\n",
            city.display().to_string()
        ),
    )
    .unwrap();
    let run = |out: &Path, env: &[(&str, &str)]| -> Value {
        let o = common::bin()
            .args(["investigate", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .arg(&log)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
    };
    let out = dir.path().join("report");
    let r = run(&out, &[]);
    let incidents: BTreeMap<&str, &Value> =
        r["incidents"].as_array().unwrap().iter().map(|i| (i["token"].as_str().unwrap(), i)).collect();
    let pivot: Vec<&str> =
        r["likely_also_compromised"].as_array().unwrap().iter().map(|s| s["token"].as_str().unwrap()).collect();
    for t in &c.thefts {
        if t.kind == "silent" {
            assert!(pivot.contains(&t.token.as_str()), "silent theft {} not found: {pivot:?}", t.token);
            continue;
        }
        let inc = incidents.get(t.token.as_str()).unwrap_or_else(|| panic!("{t:?} not listed"));
        let b = &inc["blast_radius"];
        let got =
            (b["requests"].as_u64().unwrap(), b["bytes"].as_u64().unwrap(), b["distinct_resources"].as_u64().unwrap());
        assert_eq!(got, (t.requests, t.bytes, t.resources), "{t:?}: blast radius (requests, bytes, resources)");
        let attacker_dots = inc["timeline"].as_array().unwrap().iter().filter(|u| u["attacker"] == true).count();
        assert_eq!(attacker_dots as u64, t.requests, "{t:?}: the timeline's attacker uses");
    }
    assert_eq!(c.thefts.iter().filter(|t| t.kind == "same user agent").count(), 8);
    assert_eq!(incidents.len(), 16, "only the detected thefts are incidents: {:?}", incidents.keys());
    let planted: Vec<&str> = c.thefts.iter().map(|t| t.token.as_str()).collect();
    for tok in &pivot {
        assert!(planted.contains(tok), "{tok} accused but not stolen");
    }
    // the reporting job: named as baseline, none of its tokens accused
    let base = r["indicators"]["baseline"].as_array().unwrap();
    let named = |kind: &str, v: &str| base.iter().any(|b| b["kind"] == kind && b["value"] == v);
    assert!(named("address", campaign::JOB_IP) && named("script client", campaign::SCRIPT_UA), "{base:?}");
    assert!(c.job_tokens.iter().all(|j| !pivot.contains(&j.as_str()) && !incidents.contains_key(j.as_str())));
    // the planted cause first, with its p-value
    let top = &r["root_causes"][0];
    assert_eq!((top["attribute"].as_str().unwrap(), top["value"].as_str().unwrap()), campaign::PLANTED, "{top}");
    let n = |k: &str| top[k].as_u64().unwrap();
    assert_eq!((n("stolen_with"), n("stolen")), (12, 16));
    let want = upper_tail(12, 16, n("tokens_with"), n("tokens"));
    let p = top["p_value"].as_f64().unwrap();
    assert!((p - want).abs() <= want * 1e-9 && p < 1e-6, "p {p} vs {want}");
    assert!(top["statement"].as_str().unwrap().contains(&format!("p = {p:.2e}")), "{top}");
    // reported once: not again at the client level with the same stolen tokens
    let causes = r["root_causes"].as_array().unwrap();
    assert!(!causes.iter().any(|h| h["attribute"] == "client" && h["value"] == "partner-portal"), "{causes:?}");
    assert!(r["root_cause_tests"]["tested"].as_u64().unwrap() > causes.len() as u64);
    // no lift <= 1 anywhere: JSON, Markdown, HTML
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let lifts = lifts_in_tables(&md, &html);
    assert_eq!(lifts.len(), 2 * causes.len().min(10));
    assert!(
        lifts
            .iter()
            .chain(causes.iter().map(|h| &h["lift"]).filter_map(Value::as_f64).collect::<Vec<_>>().iter())
            .all(|l| *l > 1.0),
        "{lifts:?}"
    );
    assert!(md.contains("attribute values tested") && html.contains("attribute values tested"));

    // without the baseline the job would be accused: the baseline is what keeps it out
    let r2 = run(&dir.path().join("no-baseline"), &[("TOKENHOUND_INVESTIGATE__BASELINE_MIN_DAYS", "1000")]);
    let pivot2: Vec<&str> =
        r2["likely_also_compromised"].as_array().unwrap().iter().map(|s| s["token"].as_str().unwrap()).collect();
    assert!(c.job_tokens.iter().any(|j| pivot2.contains(&j.as_str())), "the job matches the attacker's /24 and client");
}
