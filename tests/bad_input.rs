//! Bad input: each kind of broken line gives a clear error naming file and
//! line (strict, exit 2), or is counted with --skip-errors while every good
//! line still yields its alerts. And the canary: a raw token planted in every
//! place it can go never appears in any output, log line or error.

mod common;

use std::io::Write;

use base64::Engine;
use common::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn kong_line(auth: &str, t: u64) -> String {
    format!(
        r#"{{"started_at":{t},"client_ip":"198.18.1.5","request":{{"method":"GET","uri":"/api/me","headers":{{"user-agent":"curl/8.4.0","authorization":"{auth}"}}}},"response":{{"status":200}}}}"#
    )
}

/// The sample Kong stories with broken lines appended; returns the path.
fn broken_log(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(root().join("sample-logs/logs/kong/stories.ndjson")).unwrap().into_bytes();
    let good = String::from_utf8(text.clone()).unwrap();
    let mut add = |b: &[u8]| {
        text.extend_from_slice(b);
        text.push(b'\n');
    };
    add(b"this is not json at all");
    add(&good.lines().next().unwrap().as_bytes()[..60]); // truncated
    let mut huge = br#"{"started_at":1,"pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    huge.extend_from_slice(b"\"}");
    add(&huge);
    add(b"{\"started_at\":1793600000000,\"client_ip\":\"198.18.1.5\",\"request\":{\"method\":\"GET\",\"uri\":\"/\xff\xfe\"}}");
    add(kong_line("Bearer aaa.bbb.ccc.ddd.eee", 1793600000000).as_bytes()); // JWE
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(r#"{"iss":"https://evil.example","jti":"none-1","sub":"eve"}"#)
    );
    add(kong_line(&format!("Bearer {none}"), 1793600001000).as_bytes());
    let p = dir.join("broken.ndjson");
    std::fs::write(&p, text).unwrap();
    p
}

fn replay(args: &[&str], log: &std::path::Path) -> std::process::Output {
    let mut a: Vec<String> = vec!["replay".into()];
    a.extend(sample_flags());
    a.extend(args.iter().map(|s| s.to_string()));
    a.push(log.display().to_string());
    bin().args(&a).output().unwrap()
}

#[test]
fn strict_mode_stops_at_the_first_bad_line_and_names_it() {
    let dir = tempdir();
    let log = broken_log(dir.path());
    let out = replay(&["--profile", "kong"], &log);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("broken.ndjson:32: kong: not valid JSON"), "{err}");
    assert!(err.contains("--skip-errors"), "{err}");
}

#[test]
fn skip_errors_counts_each_kind_and_loses_nothing_else() {
    let dir = tempdir();
    let log = broken_log(dir.path());
    let out = replay(&["--skip-errors", "--profile", "kong"], &log);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    // the 5-segment bearer is not a bad line but a malformed token (an event);
    // nor is the line with bytes that are not UTF-8 (read with U+FFFD)
    assert!(err.contains("3 bad lines skipped"), "{err}");
    assert!(err.contains("not UTF-8 (read with U+FFFD): 1"), "{err}");
    for kind in ["invalid_json 2", "too_long 1"] {
        assert!(err.contains(kind), "missing {kind} in {err}");
    }
    assert!(err.contains("broken.ndjson:34: line is 10485785 bytes, over the 1048576-byte limit"), "{err}");
    // every alert of the good lines is still there, plus the alg=none forgery
    let rules: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["finding_info"]["analytic"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for r in
        ["impossible-travel", "ip-drift", "ua-drift", "revoked-use", "expired-use", "concurrent-use", "forged-token"]
    {
        assert!(rules.iter().any(|x| x == r), "{r} missing from {rules:?}");
    }
}

#[test]
fn canary_token_never_appears_in_any_output() {
    let dir = tempdir();
    let sig = "Q2FuYXJ5U2lnbmF0dXJlX0RPX05PVF9MRUFL";
    let payload = b64(r#"{"iss":"https://idp.acme.example","jti":"canary-1","sub":"canary-user","exp":1893456000}"#);
    let canary = format!("{}.{payload}.{sig}", b64(r#"{"alg":"RS256","kid":"idp-2026-11"}"#));
    let t = 1793600000000u64;
    let lines = vec![
        kong_line(&format!("Bearer {canary}"), t),
        format!(
            r#"{{"StartUTC":"2026-11-02T08:00:01Z","ClientHost":"198.18.126.3","RequestMethod":"GET","RequestPath":"/x","DownstreamStatus":200,"request_User-Agent":"curl/8.4.0","request_Authorization":"Bearer {canary}"}}"#
        ),
        format!(
            r#"{{"start_time":"2026-11-02T08:00:02Z","method":"GET","path":"/x","response_code":200,"downstream_remote_address":"198.18.36.3:1","authorization":"Bearer {canary}"}}"#
        ),
        format!(
            r#"{{"msec":1793600003.000,"remote_addr":"198.18.6.3","method":"GET","uri":"/x","status":200,"authorization":"Bearer {canary}"}}"#
        ),
        format!(r#"{{"time":"2026-11-02T08:00:04Z","client_ip":"198.18.6.4","token":"{canary}"}}"#),
        // broken contexts: the token where a number belongs, in bad JSON, as a JWE, oversize, malformed
        format!(r#"{{"started_at":"{canary}","client_ip":"198.18.1.5","request":{{"method":"GET","uri":"/"}}}}"#),
        format!(r#"{{"time":"2026-11-02T08:00:05Z","client_ip":"198.18.6.4","status":"{canary}"}}"#),
        format!(r#"{{"time":"2026-11-02T08:00:06Z","client_ip":"198.18.6.4","token":"{canary}" BROKEN"#),
        format!(r#"{{"time":"2026-11-02T08:00:07Z","token":"{canary}.{sig}.{sig}"}}"#),
        format!(r#"{{"time":"2026-11-02T08:00:08Z","token":"{canary}{}"}}"#, "A".repeat(20_000)),
        format!(r#"{{"time":"2026-11-02T08:00:09Z","token":"{}!!.{payload}.{sig}"}}"#, &canary[..10]),
        format!(r#"{{"time":"2026-11-02T08:00:10Z","claims":{{"jti":"{canary}","iss":"x","exp":"{canary}"}}}}"#),
    ];
    let log = dir.path().join("canary.ndjson");
    let mut f = std::fs::File::create(&log).unwrap();
    for l in &lines {
        writeln!(f, "{l}").unwrap();
    }
    let (alerts, reqs) = (dir.path().join("alerts.json"), dir.path().join("req.ndjson"));
    let mut outputs = Vec::new();
    for extra in [
        vec![
            "--skip-errors",
            "-o",
            alerts.to_str().unwrap(),
            "--revocation-requests",
            reqs.to_str().unwrap(),
            "--log",
            "trace",
        ],
        vec!["--skip-errors", "--format", "table", "--log", "debug", "--log-json"],
        vec!["--skip-errors", "--format", "ecs"],
        vec![], // strict: the first error message
    ] {
        let o = replay(&extra, &log);
        outputs.push(text(&o.stdout));
        outputs.push(text(&o.stderr));
    }
    outputs.push(std::fs::read_to_string(&alerts).unwrap());
    outputs.push(std::fs::read_to_string(&reqs).unwrap_or_default());
    // make sure the canary lines did reach the detector and the error paths
    let all = outputs.join("\n");
    assert!(all.contains("forged-token"), "the canary token is judged: {all}");
    assert!(all.contains("not valid JSON"), "broken lines reported");
    for (i, o) in outputs.iter().enumerate() {
        for needle in [canary.as_str(), sig, &payload] {
            assert!(!o.contains(needle), "output {i} leaks the canary ({} chars): {o}", needle.len());
        }
    }
}
