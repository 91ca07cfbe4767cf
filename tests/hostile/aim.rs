//! Aimed revocations: a forged token's `sub`, `iss` or `jti` once named who
//! would be revoked (an `alg: none` token claiming to be the CEO wrote a
//! subject cutoff for the CEO), and joined Redis keys let one identity
//! write another's (`iss = "https"`, `sub = "//idp.acme.example:svc-backup"`).
//! Now an unverified token revokes only its own bytes (a fingerprint), and
//! every key part is percent-encoded. Checked on the requests and on a
//! real Redis written by `replay --respond` in enforce mode.

use std::process::{Command, Stdio};

use crate::{kong, none_token, replay_lines};

struct Redis(std::process::Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(std::env::var("TEST_REQUIRE_KAFKA").is_err(), "redis-server is required here");
        eprintln!("skipped: no redis-server");
        return None;
    };
    let r = Redis(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(r);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("redis did not start");
}

fn keys(port: u16) -> Vec<String> {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    k.sort();
    k
}

#[test]
fn a_forged_ceo_token_revokes_only_itself() {
    let tok =
        none_token(r#"{"iss":"https://idp.acme.example","jti":"ceo-jti","sub":"ceo@acme.example","exp":4102444800}"#);
    let line = kong(1_793_600_000_000, "198.18.1.23", &format!("Bearer {tok}"), 401, "");
    let r = replay_lines(std::slice::from_ref(&line), &["--profile", "kong"]);
    assert_eq!(r.rules(), ["forged-token"]);
    assert_eq!(r.requests.len(), 1);
    let q = &r.requests[0];
    assert_eq!(q["scope"], "fingerprint");
    for k in ["sub", "iss", "jti", "client_id"] {
        assert!(q.get(k).is_none(), "a forged token's {k} is never in its request: {q}");
    }
    let a = &r.alerts()[0];
    assert!(a["actor"]["user"].is_null(), "the claimed subject is not the actor");
    assert_eq!(a["unmapped"]["tokenhound"]["claimed"]["sub"], "ceo@acme.example");
    let Some(redis) = redis() else { return };
    let dir = crate::common::tempdir();
    let cfg = dir.path().join("t.toml");
    let base = std::fs::read_to_string(crate::common::root().join("sample-logs/tokenhound.toml")).unwrap();
    let hooks = format!(
        "\n[respond]\nmode = \"enforce\"\n[respond.redis]\nurl = \"redis://127.0.0.1:{}/\"\nprefix = \"th\"\n",
        redis.1
    );
    std::fs::write(&cfg, base + &hooks).unwrap();
    let r = replay_lines(&[line], &["--config", cfg.to_str().unwrap(), "--profile", "kong", "--respond"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let k = keys(redis.1);
    assert_eq!(k.len(), 1, "{k:?}");
    assert!(k[0].starts_with("th:fp:sha256:"), "only the token's own fingerprint: {k:?}");
}

#[test]
fn a_joined_key_cannot_land_on_a_protected_account() {
    let Some(redis) = redis() else { return };
    let dir = crate::common::tempdir();
    // a (gateway-verified) token whose iss and sub join into the key of a
    // protected service account, used after its revocation
    let claims = r#","jwt":{"iss":"https","jti":"aim-1","sub":"//idp.acme.example:svc-backup","iat":1793590000,"exp":4102444800}"#;
    let revs = dir.path().join("revs.ndjson");
    std::fs::write(&revs, r#"{"iss":"https","jti":"aim-1","revoked_at":"2026-11-02T07:00:00Z"}"#).unwrap();
    let cfg = dir.path().join("t.toml");
    let base = std::fs::read_to_string(crate::common::root().join("sample-logs/tokenhound.toml")).unwrap();
    let hooks = format!("\n[respond]\nmode = \"enforce\"\nnever_revoke_subjects = [\"svc-*\"]\n[respond.redis]\nurl = \"redis://127.0.0.1:{}/\"\nprefix = \"th\"\n", redis.1);
    std::fs::write(&cfg, base + &hooks).unwrap();
    // 09:00, after the revocation at 07:00
    let line = kong(1_793_610_000_000, "198.18.1.23", "REDACTED", 200, claims);
    let r = replay_lines(
        &[line],
        &["--config", cfg.to_str().unwrap(), "--profile", "kong", "--respond", "--revocations", revs.to_str().unwrap()],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // revoked-use, and the subject's risk reaching HIGH (its step-up signal)
    assert_eq!(r.rules(), ["revoked-use", "risk-level-change"], "{}", r.stderr);
    let k: Vec<String> = keys(redis.1).into_iter().filter(|k| !k.starts_with("th:risk:")).collect();
    assert!(!k.contains(&"th:sub:https%3A%2F%2Fidp.acme.example:svc-backup".to_string()), "{k:?}");
    assert_eq!(k, ["th:sub:https:%2F%2Fidp.acme.example%3Asvc-backup"], "its own, encoded");
}

/// Investigate once proposed a password reset for the `sub` of any token
/// seen from a thief's address, vouched or not: an unverified claim named
/// the CEO, and the CEO was told to change the password.
#[test]
fn investigate_proposes_no_reset_for_an_unvouched_subject() {
    let claims = |jti: &str, sub: &str| {
        format!(r#","jwt":{{"iss":"https://idp.acme.example","jti":"{jti}","sub":"{sub}","exp":1893456000}}"#)
    };
    let t0 = 1_793_600_000_000u64;
    let theft = claims("pivot-theft", "victim");
    let lines = [
        kong(t0, "198.18.1.23", "REDACTED", 200, &theft),
        kong(t0 + 900_000, "198.18.126.77", "REDACTED", 200, &theft),
        // from the thief's address, a minute later: claims nobody vouched for
        kong(t0 + 960_000, "198.18.126.77", "REDACTED", 200, &claims("pivot-other", "ceo@acme.example")),
    ];
    let dir = crate::common::tempdir();
    let log = dir.path().join("p.ndjson");
    std::fs::write(&log, lines.join("\n")).unwrap();
    let report = |trusted: bool| {
        let out = dir.path().join(format!("r-{trusted}"));
        let mut a: Vec<String> = vec!["investigate".into(), "--profile".into(), "kong".into()];
        a.extend(["--out".into(), out.display().to_string()]);
        a.extend(crate::common::sample_flags().into_iter().filter(|f| !f.contains("revocations")));
        a.push(log.display().to_string());
        let mut cmd = crate::common::bin();
        cmd.env("TOKENHOUND_TOKEN__TRUST_GATEWAY_CLAIMS", trusted.to_string());
        let o = cmd.args(&a).output().unwrap();
        assert!(o.status.success(), "{}", crate::common::text(&o.stderr));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
        r
    };
    let r = report(false);
    let suspects = r["likely_also_compromised"].as_array().unwrap();
    assert_eq!(suspects.len(), 1, "{r}");
    assert!(suspects[0]["sub"].is_null(), "an unvouched subject is not named: {}", suspects[0]);
    assert_eq!(r["password_resets"], serde_json::json!([]), "{r}");
    // the gateway vouched for the claims: that subject may be told
    let r = report(true);
    let resets = r["password_resets"].as_array().unwrap();
    assert!(resets.contains(&serde_json::json!("ceo@acme.example")), "{r}");
}

/// Claims nobody vouched for (`trust_gateway_claims` off) were keyed by
/// `iss|jti`: a forged copy of a real token's jti shared its state, made its
/// next use look like travel and revoked the real token by name.
#[test]
fn unvouched_claims_cannot_take_a_real_tokens_identity() {
    let real = crate::jws(
        r#"{"alg":"RS256","kid":"idp-2026-11"}"#,
        r#"{"iss":"https://idp.acme.example","jti":"real-1","sub":"alice","exp":1893456000}"#,
        "idp",
    );
    let forged = r#","jwt":{"iss":"https://idp.acme.example","jti":"real-1","sub":"alice","exp":1893456000}"#;
    let t0 = 1_793_600_000_000u64;
    let lines = [
        kong(t0, "198.18.1.23", &format!("Bearer {real}"), 200, ""),
        // the same jti, as claims an unverifying gateway logged, from Singapore
        kong(t0 + 900_000, "198.18.126.77", "REDACTED", 200, forged),
        kong(t0 + 1_000_000, "198.18.126.78", "REDACTED", 200, forged),
    ];
    let r = replay_lines(&lines, &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.rules().contains(&"impossible-travel".to_string()), "{:?}", r.rules());
    for q in &r.requests {
        assert_ne!(q["jti"], "real-1", "the real token is never revoked on unvouched claims: {q}");
    }
    for a in r.alerts() {
        assert_ne!(a["actor"]["session"]["uid"], "https://idp.acme.example|real-1", "{a}");
        assert!(a["actor"]["user"].is_null(), "unvouched claims name no actor: {a}");
    }
}

/// A raw token nobody could verify (no keys: `not_checked`) once made its
/// claimed `sub` the alert's actor.
#[test]
fn an_unverified_raw_tokens_subject_is_not_the_actor() {
    let tok = crate::jws(
        r#"{"alg":"RS256","kid":"idp-2026-11"}"#,
        r#"{"iss":"https://idp.acme.example","jti":"nc-1","sub":"ceo@acme.example","exp":1893456000}"#,
        "attacker",
    );
    let t0 = 1_793_600_000_000u64;
    let lines = [
        kong(t0, "198.18.1.23", &format!("Bearer {tok}"), 200, ""),
        kong(t0 + 900_000, "198.18.126.77", &format!("Bearer {tok}"), 200, ""),
    ];
    let dir = crate::common::tempdir();
    let log = dir.path().join("nc.ndjson");
    std::fs::write(&log, lines.join("\n")).unwrap();
    // no --jwks: nothing can be verified
    let flags: Vec<String> = crate::common::sample_flags();
    let i = flags.iter().position(|f| f == "--jwks").unwrap();
    let mut a: Vec<String> = vec!["replay".into(), "--profile".into(), "kong".into()];
    a.extend(flags[..i].iter().chain(&flags[i + 2..]).cloned());
    a.push(log.display().to_string());
    let o = crate::common::bin().args(&a).output().unwrap();
    let out = crate::common::text(&o.stdout);
    let alerts: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(alerts.iter().any(|a| a["finding_info"]["analytic"]["uid"] == "impossible-travel"), "{out}");
    for a in &alerts {
        assert_eq!(a["unmapped"]["tokenhound"]["token_verdict"], "not_checked");
        assert!(a["actor"]["user"].is_null(), "the claimed subject is not the actor: {a}");
        assert_eq!(a["unmapped"]["tokenhound"]["claimed"]["sub"], "ceo@acme.example");
    }
}

/// Claims without a jti are named by a keyed hash of their parts joined
/// with NUL, and a raw bearer by a keyed hash of its bytes: a bearer value
/// spelling out `claims\0<iss>\0<sub>\0<iat>` once took the victim's name
/// (shared state: the victim's token "travelled" to the attacker).
#[test]
fn a_bearer_spelling_out_claims_cannot_take_their_name() {
    let claims = r#","jwt":{"iss":"https://idp.acme.example","sub":"victim","iat":1793599000,"exp":1893456000}"#;
    let t0 = 1_793_600_000_000u64;
    let spelled = r"Bearer claims\u0000https://idp.acme.example\u0000victim\u00001793599000";
    let lines =
        [kong(t0, "198.18.1.23", "REDACTED", 200, claims), kong(t0 + 900_000, "198.18.126.77", spelled, 200, "")];
    let r = replay_lines(&lines, &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.rules(), ["forged-token"], "the bearer is its own token");
    let cfg = crate::common::root().join("sample-logs/tokenhound.toml");
    let r = replay_lines(&lines, &["--config", cfg.to_str().unwrap(), "--profile", "kong"]);
    assert_eq!(r.rules(), ["forged-token"], "with vouched claims too");
}
