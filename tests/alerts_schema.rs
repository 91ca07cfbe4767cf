//! What a SOC pipeline ingests, checked by independent tools.
//!
//! OCSF: every kind of alert tokenhound emits (each rule's finding, on the
//! sample logs, every scenario folder, a generated log with every kind of
//! theft, forgeries of every verdict, and the responder's own alerts)
//! validates against the OCSF 1.8.0 JSON Schema of its class with the
//! profiles it declares (PyPI `ocsf-json-schema` + `jsonschema`, run by
//! `tests/ocsf/validate.py`); a consumer can group and dedupe on it
//! (`metadata.uid` = `finding_info.uid`, observables typed).
//!
//! ECS: every `--format ecs` field outside tokenhound's own `tokenhound.*`
//! has the type the ECS 8.11 reference gives it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

/// The validator is installed by the test command; plain `cargo test`
/// without it says "skipped".
fn validator() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import ocsf_json_schema, jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("TEST_REQUIRE_KAFKA").is_err(), "PyPI ocsf-json-schema and jsonschema are required here");
        eprintln!("skipped: no ocsf-json-schema / jsonschema (scripts/test.sh installs them)");
    }
    ok
}

fn validate(files: &[&Path]) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/ocsf/validate.py"))
        .args(files)
        .output()
        .expect("python3");
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

fn replay(args: &[&str]) -> String {
    let out = bin().arg("replay").args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Every alert kind, in one file per source.
fn alerts(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut put = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        files.push(p);
    };
    let mut sample = vec!["--config", "sample-logs/tokenhound.toml", "--revocations", "sample-logs/revocations.ndjson"];
    sample.push("sample-logs/logs");
    put("sample.ndjson", replay(&sample));
    let mut scen = String::new();
    for case in std::fs::read_dir(root().join("tests/scenarios")).unwrap().map(|e| e.unwrap().path()) {
        let mut a = vec!["--rules".to_string(), "rules".into(), "--profile".into(), "tokenhound".into()];
        let revs = case.join("revocations.ndjson");
        if revs.exists() {
            a.extend(["--revocations".into(), revs.display().to_string()]);
        }
        a.push(case.join("events.ndjson").display().to_string());
        scen.push_str(&replay(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    put("scenarios.ndjson", scen);
    let (log, revs) = (dir.join("gen.ndjson"), dir.join("revs.ndjson"));
    let g = run(&[
        "gen",
        "--lines",
        "20000",
        "--seed",
        "5",
        "-o",
        log.to_str().unwrap(),
        "--revocations",
        revs.to_str().unwrap(),
    ]);
    assert!(g.status.success());
    let gen = replay(&[
        "--config",
        "sample-logs/tokenhound.toml",
        "--revocations",
        revs.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    put("generated.ndjson", gen);
    // weeks of subject history with tokens stolen at issuance
    let story = dir.join("story.ndjson");
    let g = run(&["gen", "--story", "subjects", "--users", "60", "--seed", "2", "-o", story.to_str().unwrap()]);
    assert!(g.status.success());
    put("story.ndjson", replay(&["--config", "sample-logs/tokenhound.toml", story.to_str().unwrap()]));
    // forgeries of each verdict, with hostile methods, paths and agents
    let forged = dir.join("forged.ndjson");
    std::fs::write(&forged, forgeries()).unwrap();
    put(
        "forged.ndjson",
        replay(&["--config", "sample-logs/tokenhound.toml", "--profile", "kong", forged.to_str().unwrap()]),
    );
    // the responder's own alerts
    let sys: String =
        [("revocation-storm", "budget exhausted"), ("hook-disabled", "the ssf hook's receiver answered 410")]
            .iter()
            .map(|(k, m)| tokenhound::respond::system_alert(k, m, 1_793_606_400_000, "salt").to_string() + "\n")
            .collect();
    put("responder.ndjson", sys);
    files
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A JWS of this header and payload signed RS256 with a key of sample-logs/keys.
fn jws(header: &str, payload: &str, key: &str) -> String {
    let pem = std::fs::read(root().join("sample-logs/keys").join(key)).unwrap();
    let k = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &k, jsonwebtoken::Algorithm::RS256).unwrap();
    format!("{input}.{sig}")
}

/// Kong lines carrying tokens of every verdict, sent with the bytes an
/// attacker picks for the method, path and user agent.
fn forgeries() -> String {
    let p = |jti: &str| {
        format!(r#"{{"iss":"https://idp.acme.example","jti":"{jti}","sub":"ceo@acme.example","exp":1893456000}}"#)
    };
    let tokens = [
        jws(r#"{"alg":"RS256","kid":"idp-2026-11"}"#, &p("f-1"), "attacker-rs256.key"),
        jws(r#"{"alg":"RS256","kid":"no-such-kid"}"#, &p("f-2"), "attacker-rs256.key"),
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&p("f-3"))),
        jws(r#"{"alg":"RS256","kid":"idp-2026-11","crit":["x"],"x":1}"#, &p("f-4"), "idp-rs256.key"),
        "x.y.z".to_string(),
        "opaque-not-a-jwt-0123456789".to_string(),
    ];
    let methods = ["GET", "-", "get", "BREW", r"G\u0000T", "PROPFIND"];
    let mut out = String::new();
    for (i, (t, m)) in tokens.iter().zip(methods).enumerate() {
        let line = format!(
            r#"{{"started_at":{},"client_ip":"198.18.1.{}","request":{{"method":"{m}","uri":"/a\u001b[31m/{i}?q=1","headers":{{"user-agent":"\u0007ua-{i}","authorization":"Bearer {t}"}}}},"response":{{"status":{}}}}}"#,
            1_793_600_000_000u64 + i as u64 * 1000,
            10 + i,
            if i % 2 == 0 { 200 } else { 401 }
        );
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn every_alert_kind_is_valid_ocsf_1_8_0() {
    if !validator() {
        return;
    }
    let dir = tempdir();
    let files = alerts(dir.path());
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (ok, report) = validate(&refs);
    assert!(ok, "{report}");
    // every rule's finding was among them
    let all: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    for l in all.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        *rules.entry(v["finding_info"]["analytic"]["uid"].as_str().unwrap().into()).or_default() += 1;
        assert_eq!(v["metadata"]["uid"], v["finding_info"]["uid"], "metadata.uid is the stable finding uid");
        let system =
            ["revocation-storm", "hook-disabled"].contains(&v["finding_info"]["analytic"]["uid"].as_str().unwrap());
        let profiles = if system { serde_json::json!(["datetime"]) } else { serde_json::json!(["host", "datetime"]) };
        assert_eq!(v["metadata"]["profiles"], profiles, "{v}");
    }
    for r in std::fs::read_dir(root().join("rules")).unwrap() {
        let id = r.unwrap().path().file_stem().unwrap().to_string_lossy().to_string();
        assert!(rules.contains_key(&id), "no {id} alert validated: {rules:?}");
    }
    assert!(rules.contains_key("revocation-storm") && rules.contains_key("hook-disabled"));
    let verdicts: std::collections::BTreeSet<String> = std::fs::read_to_string(dir.path().join("forged.ndjson"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["unmapped"]["tokenhound"]["token_verdict"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(verdicts.len() >= 4, "forgeries of several verdicts validated: {verdicts:?}");
    eprintln!("validated: {report}");
}

#[test]
fn observables_name_the_token_the_user_and_the_addresses() {
    let out = replay(&[
        "--config",
        "sample-logs/tokenhound.toml",
        "--revocations",
        "sample-logs/revocations.ndjson",
        "sample-logs/logs",
    ]);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let obs = first["observables"].as_array().unwrap();
    let has = |name: &str, type_id: u64, value: &str| {
        obs.iter().any(|o| o["name"] == name && o["type_id"] == type_id && o["value"] == value)
    };
    assert!(has("actor.session.uid", 10, "https://idp.acme.example|a1b2c3d4-alice"), "{obs:?}");
    assert!(has("actor.user.uid", 31, "alice"), "{obs:?}");
    assert!(has("evidences.src_endpoint.ip", 2, "198.18.126.77"), "{obs:?}");
    // a forged token's claimed user is no observable
    for l in out.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["finding_info"]["analytic"]["uid"] == "forged-token" {
            assert!(!v["observables"].as_array().unwrap().iter().any(|o| o["type_id"] == 31), "{v}");
        }
    }
}

/// ECS 8.11 types of the fields tokenhound writes (the ECS field reference).
const ECS_FIELDS: &[(&str, &str)] = &[
    ("@timestamp", "date"),
    ("message", "match_only_text"),
    ("ecs.version", "keyword"),
    ("event.kind", "keyword"),
    ("event.category", "keyword"),
    ("event.type", "keyword"),
    ("event.id", "keyword"),
    ("event.severity", "long"),
    ("event.dataset", "keyword"),
    ("event.module", "keyword"),
    ("event.reason", "keyword"),
    ("rule.id", "keyword"),
    ("rule.name", "keyword"),
    ("rule.ruleset", "keyword"),
    ("rule.version", "keyword"),
    ("threat.framework", "keyword"),
    ("threat.technique.id", "keyword"),
    ("user.id", "keyword"),
    ("source.ip", "ip"),
    ("source.geo.city_name", "keyword"),
    ("source.geo.country_iso_code", "keyword"),
    ("source.geo.location", "geo_point"),
    ("source.as.number", "long"),
    ("source.as.organization.name", "keyword"),
    ("http.request.method", "keyword"),
    ("http.response.status_code", "long"),
    ("url.path", "wildcard"),
    ("user_agent.original", "keyword"),
];

/// The allowed values of ECS's categorization fields tokenhound uses.
const ECS_ALLOWED: &[(&str, &[&str])] = &[
    ("event.kind", &["alert"]),
    ("event.category", &["authentication", "threat"]),
    ("event.type", &["indicator", "info"]),
];

fn check_type(path: &str, ty: &str, v: &Value) -> Result<(), String> {
    let ok = match (ty, v) {
        (_, Value::Array(items)) if ty != "geo_point" => return items.iter().try_for_each(|i| check_type(path, ty, i)),
        ("keyword" | "match_only_text" | "wildcard", Value::String(_)) => true,
        ("long", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("date", Value::String(s)) => tokenhound::model::EventTime::parse(s).is_ok(),
        ("ip", Value::String(s)) => s.parse::<std::net::IpAddr>().is_ok(),
        ("geo_point", Value::Object(o)) => {
            o.get("lat").is_some_and(Value::is_f64) && o.get("lon").is_some_and(Value::is_f64)
        }
        (_, Value::Null) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: {v} is not an ECS {ty}"))
    }
}

/// Leaves of a document as (dotted path, value); objects are walked,
/// a geo_point's object is a leaf.
fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(o) if !(prefix.ends_with("location") && o.contains_key("lat")) => {
            for (k, x) in o {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(&p, x, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for i in items {
                leaves(prefix, i, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

#[test]
fn ecs_documents_use_ecs_types() {
    let dir = tempdir();
    let (log, revs) = (dir.path().join("gen.ndjson"), dir.path().join("revs.ndjson"));
    assert!(run(&[
        "gen",
        "--lines",
        "20000",
        "--seed",
        "5",
        "-o",
        log.to_str().unwrap(),
        "--revocations",
        revs.to_str().unwrap()
    ])
    .status
    .success());
    let mut docs = replay(&[
        "--format",
        "ecs",
        "--config",
        "sample-logs/tokenhound.toml",
        "--revocations",
        revs.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    docs.push_str(&replay(&[
        "--format",
        "ecs",
        "--config",
        "sample-logs/tokenhound.toml",
        "--revocations",
        "sample-logs/revocations.ndjson",
        "sample-logs/logs",
    ]));
    let types: BTreeMap<&str, &str> = ECS_FIELDS.iter().copied().collect();
    let mut problems = Vec::new();
    let mut n = 0;
    for l in docs.lines() {
        n += 1;
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["ecs"]["version"], "8.11.0");
        let mut all = Vec::new();
        leaves("", &v, &mut all);
        for (path, val) in all {
            if path.starts_with("tokenhound.") {
                continue; // tokenhound's own field set
            }
            match types.get(path.as_str()) {
                None => problems.push(format!("{path}: not in the ECS table of this test")),
                Some(ty) => {
                    if let Err(e) = check_type(&path, ty, &val) {
                        problems.push(e);
                    }
                }
            }
            if let Some((_, allowed)) = ECS_ALLOWED.iter().find(|(p, _)| *p == path) {
                let vals: Vec<&Value> = match &val {
                    Value::Array(a) => a.iter().collect(),
                    x => vec![x],
                };
                for x in vals {
                    if !x.as_str().is_some_and(|s| allowed.contains(&s)) {
                        problems.push(format!("{path}: {x} is not an allowed ECS value"));
                    }
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(n > 10, "documents checked: {n}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
