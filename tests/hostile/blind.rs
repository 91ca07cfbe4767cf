//! Blinding: inputs that once made a theft invisible. A bearer value any
//! client can send, a bad record in a Kong batch, oddly typed claims of a
//! signed token, a `verdict` field in the input, and a spray of forgeries
//! that evicted real tokens' state: none of them may hide the theft beside.

use crate::{jws, kong, none_token, replay_lines};

const CLAIMS: &str = r#","jwt":{"iss":"https://idp.acme.example","jti":"blind-theft","sub":"victim","exp":1893456000}"#;

fn theft_at(t0: u64) -> [String; 2] {
    [kong(t0, "198.18.1.23", "REDACTED", 200, CLAIMS), kong(t0 + 900_000, "198.18.126.77", "REDACTED", 200, CLAIMS)]
}

#[test]
fn a_garbage_bearer_is_a_malformed_token_not_a_stop() {
    let [a, b] = theft_at(1_793_600_000_000);
    let lines = vec![a, kong(1_793_600_100_000, "198.18.9.9", "Bearer x", 401, ""), b];
    let r = replay_lines(&lines, &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "strict mode goes on: {}", r.stderr);
    let rules = r.rules();
    assert!(rules.contains(&"impossible-travel".to_string()), "{rules:?}");
    let forged: Vec<_> =
        r.alerts().into_iter().filter(|a| a["finding_info"]["analytic"]["uid"] == "forged-token").collect();
    assert_eq!(forged.len(), 1);
    assert_eq!(forged[0]["unmapped"]["tokenhound"]["token_verdict"], "malformed");
    assert_eq!(forged[0]["severity_id"], 3, "rejected by the gateway: medium");
    assert!(r.stderr.contains("0 bad lines skipped"), "{}", r.stderr);
}

#[test]
fn one_bad_record_does_not_take_its_kong_batch_with_it() {
    let [a, b] = theft_at(1_793_600_000_000);
    let bad = r#"{"started_at":"yesterday","client_ip":"198.18.1.5","request":{"method":"GET","uri":"/"}}"#;
    let batch = format!("[{a},{bad},{b}]");
    let r = replay_lines(std::slice::from_ref(&batch), &["--profile", "kong", "--skip-errors"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.rules().contains(&"impossible-travel".to_string()), "the theft in the batch: {:?}", r.rules());
    assert!(r.stderr.contains("1 bad lines skipped") && r.stderr.contains("bad_value 1"), "{}", r.stderr);
    assert!(r.stderr.contains("hostile.ndjson:1: record 1 of the batch: kong: field `started_at`"), "{}", r.stderr);
    let strict = replay_lines(&[batch], &["--profile", "kong"]);
    assert_eq!(strict.code, Some(2));
    assert!(strict.stderr.contains("hostile.ndjson:1: record 1 of the batch"), "{}", strict.stderr);
}

#[test]
fn oddly_typed_claims_of_a_signed_token_are_a_verdict_not_a_line_error() {
    let h = r#"{"alg":"RS256","kid":"idp-2026-11"}"#;
    let cases = [
        (
            r#"{"iss":"https://idp.acme.example","jti":"odd-1","sub":"u1","exp":"1893456000"}"#,
            "claim `exp` is not a NumericDate",
        ),
        (
            r#"{"iss":"https://idp.acme.example","jti":"odd-2","sub":"u2","exp":10000000000000}"#,
            "claim `exp` is not a NumericDate",
        ),
        (r#"{"iss":"https://idp.acme.example","jti":"odd-3","jti":"odd-4","sub":"u3"}"#, "claim `jti` is given twice"),
        (r#"{"iss":"https://idp.acme.example","jti":{"nested":1},"sub":"u4"}"#, "claim `jti` has an unexpected type"),
    ];
    let lines: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (p, _))| {
            kong(1_793_600_000_000 + i as u64 * 1000, "198.18.1.23", &format!("Bearer {}", jws(h, p, "idp")), 200, "")
        })
        .collect();
    let r = replay_lines(&lines, &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let alerts = r.alerts();
    assert_eq!(alerts.len(), cases.len(), "{:?}", r.rules());
    for (a, (_, why)) in alerts.iter().zip(cases) {
        assert_eq!(a["unmapped"]["tokenhound"]["token_verdict"], "malformed");
        assert_eq!(a["unmapped"]["tokenhound"]["details"]["reason"], why);
        assert_eq!(a["severity_id"], 5, "accepted by the gateway: critical");
    }
}

#[test]
fn a_verdict_in_the_input_is_not_believed() {
    let tok = none_token(r#"{"iss":"https://idp.acme.example","jti":"v-1","sub":"ceo"}"#);
    let line = format!(
        r#"{{"time":"2026-11-02T08:00:00Z","client_ip":"198.18.1.23","status":200,"token":"{tok}","verdict":"valid"}}"#
    );
    let r = replay_lines(&[line], &["--profile", "tokenhound"]);
    assert_eq!(r.rules(), ["forged-token"], "{}", r.stderr);
    assert_eq!(r.alerts()[0]["unmapped"]["tokenhound"]["token_verdict"], "alg_none");
}

#[test]
fn a_spray_of_forgeries_cannot_evict_the_victims_state() {
    let t0 = 1_793_600_000_000u64;
    let [a, b] = theft_at(t0);
    let mut lines = vec![a];
    for i in 0..20_000u64 {
        let tok = none_token(&format!(r#"{{"iss":"https://idp.acme.example","jti":"spray-{i}"}}"#));
        lines.push(kong(t0 + 1 + i * 40, "198.18.9.9", &format!("Bearer {tok}"), 401, ""));
    }
    lines.push(b);
    let dir = crate::common::tempdir();
    let log = dir.path().join("spray.ndjson");
    std::fs::write(&log, lines.join("\n")).unwrap();
    let mut a: Vec<String> = vec!["replay".into(), "--profile".into(), "kong".into()];
    a.extend(crate::common::sample_flags());
    a.push(log.display().to_string());
    let out = crate::common::bin()
        .env("TOKENHOUND_ENGINE__MAX_TOKENS", "100")
        .env("TOKENHOUND_ENGINE__MAX_UNTRUSTED_TOKENS", "1000")
        .args(&a)
        .output()
        .unwrap();
    let stdout = crate::common::text(&out.stdout);
    assert!(stdout.contains("\"uid\":\"impossible-travel\""), "the theft is found amid the spray");
    assert_eq!(stdout.lines().filter(|l| l.contains("\"uid\":\"forged-token\"")).count(), 20_000);
}

#[test]
fn a_byte_that_is_not_utf8_does_not_drop_the_theft() {
    // the thief's user agent carries 0xff: the line is the sender's words
    // anyway, so it is read (U+FFFD in place of the byte) and counted
    let [a, b] = theft_at(1_793_600_000_000);
    let b = b.replace("Firefox/120.0", "Firefox/120.0 \u{1}X").into_bytes();
    let at = b.windows(2).position(|w| w == b"\x01X").unwrap();
    let mut b = b;
    b[at] = 0xff;
    let dir = crate::common::tempdir();
    let log = dir.path().join("utf8.ndjson");
    let mut text = a.into_bytes();
    text.push(b'\n');
    text.extend_from_slice(&b);
    text.push(b'\n');
    std::fs::write(&log, &text).unwrap();
    for args in [&["--profile", "kong"][..], &["--profile", "kong", "--skip-errors"], &[]] {
        let r = crate::replay_file(&log, dir.path(), args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        assert!(r.rules().contains(&"impossible-travel".to_string()), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("0 bad lines skipped"), "{}", r.stderr);
        assert!(r.stderr.contains("not UTF-8 (read with U+FFFD): 1"), "{}", r.stderr);
        let ev = &r.alerts()[0]["evidences"][1];
        assert!(ev["http_request"]["user_agent"].as_str().unwrap().contains("Firefox/120.0 \u{fffd}X"), "{ev}");
    }
}

#[test]
fn a_value_named_like_a_gateway_field_does_not_steer_the_profile() {
    // an Envoy theft whose thief sends the user agent `started_at` (and a
    // claim named `started_at`): auto-detection once took the line for Kong
    let line = |t: &str, ip: &str, ua: &str| {
        format!(
            r#"{{"start_time":"{t}","method":"GET","path":"/api/me","response_code":200,"user_agent":"{ua}","downstream_remote_address":"{ip}:443","jwt":{{"iss":"https://idp.acme.example","jti":"envoy-theft","sub":"victim","exp":1893456000,"started_at":1}}}}"#
        )
    };
    let lines = vec![
        line("2026-11-02T08:00:00Z", "198.18.1.23", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
        line("2026-11-02T08:15:00Z", "198.18.126.77", "started_at"),
    ];
    for args in [&[][..], &["--skip-errors"]] {
        let r = replay_lines(&lines, args);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(r.rules().contains(&"impossible-travel".to_string()), "{:?}: {}", r.rules(), r.stderr);
        assert!(r.stderr.contains("0 bad lines skipped"), "{}", r.stderr);
    }
}

#[test]
fn a_garbage_bearer_beside_vouched_claims_does_not_rename_the_theft() {
    // Kong verified the thief's token and logged its claims; the thief also
    // sends `Authorization: Bearer x`: the claims name the event, not `x`
    let [a, b] = theft_at(1_793_600_000_000);
    let b = b.replace(r#""authorization":"REDACTED""#, r#""authorization":"Bearer x""#);
    // and a real, signed token that is someone else's beside the claims
    let other = jws(
        r#"{"alg":"RS256","kid":"idp-2026-11"}"#,
        r#"{"iss":"https://idp.acme.example","jti":"decoy","sub":"decoy"}"#,
        "idp",
    );
    let c = theft_at(1_793_600_000_000)[1]
        .replace(r#""authorization":"REDACTED""#, &format!(r#""authorization":"Bearer {other}""#))
        .replace("198.18.126.77", "198.18.126.78");
    let cfg = crate::common::root().join("sample-logs/tokenhound.toml");
    let r = replay_lines(&[a, b, c], &["--config", cfg.to_str().unwrap(), "--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let travel: Vec<_> =
        r.alerts().into_iter().filter(|a| a["finding_info"]["analytic"]["uid"] == "impossible-travel").collect();
    assert_eq!(travel.len(), 1, "{:?}", r.rules());
    assert_eq!(travel[0]["actor"]["session"]["uid"], "https://idp.acme.example|blind-theft");
    assert!(!r.rules().contains(&"forged-token".to_string()), "{:?}", r.rules());
    assert!(r.stderr.contains("not the token the gateway verified (its claims named the event): 2"), "{}", r.stderr);
    // without trusted claims the raw token still wins (it can be verified)
    let [a, b] = theft_at(1_793_600_000_000);
    let b = b.replace(r#""authorization":"REDACTED""#, r#""authorization":"Bearer x""#);
    let r = replay_lines(&[a, b], &["--profile", "kong"]);
    assert!(r.rules().contains(&"forged-token".to_string()), "{:?}", r.rules());
}

#[test]
fn an_ipv4_mapped_address_is_the_ipv4_address() {
    // a dual-stack listener logs the thief as ::ffff:198.18.126.77: once no
    // GeoIP record (no travel) and no match in the trusted-proxy list
    let [a, b] = theft_at(1_793_600_000_000);
    let b = b.replace(r#""client_ip":"198.18.126.77""#, r#""client_ip":"::ffff:198.18.126.77""#);
    let r = replay_lines(&[a, b], &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let travel: Vec<_> =
        r.alerts().into_iter().filter(|a| a["finding_info"]["analytic"]["uid"] == "impossible-travel").collect();
    assert_eq!(travel.len(), 1, "{:?}", r.rules());
    assert_eq!(travel[0]["evidences"][1]["src_endpoint"]["ip"], "198.18.126.77");
}

#[test]
fn a_tab_after_bearer_does_not_lose_the_token() {
    // `Authorization: Bearer<TAB><token>` once carried no token at all
    let tok = jws(
        r#"{"alg":"RS256","kid":"idp-2026-11"}"#,
        r#"{"iss":"https://idp.acme.example","jti":"tab-theft","sub":"victim","exp":1893456000}"#,
        "idp",
    );
    let t0 = 1_793_600_000_000u64;
    let lines = [
        kong(t0, "198.18.1.23", &format!("Bearer {tok}"), 200, ""),
        kong(t0 + 900_000, "198.18.126.77", &format!("Bearer\\t{tok}"), 200, ""),
    ];
    let r = replay_lines(&lines, &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("(0 without a token)"), "{}", r.stderr);
    let travel: Vec<_> =
        r.alerts().into_iter().filter(|a| a["finding_info"]["analytic"]["uid"] == "impossible-travel").collect();
    assert_eq!(travel.len(), 1, "{:?}", r.rules());
    assert_eq!(travel[0]["actor"]["session"]["uid"], "https://idp.acme.example|tab-theft");
}

/// Claims nobody vouched for may differ from use to use: a thief who sends
/// one request first with the stolen jti and an `exp` far in the future
/// must not lend that `exp` to the real, expired token's later uses.
#[test]
fn the_first_claims_of_a_jti_do_not_stick_to_later_uses() {
    let claims =
        |exp: u64| format!(r#","jwt":{{"iss":"https://idp.acme.example","jti":"sticky-1","sub":"alice","exp":{exp}}}"#);
    let t0 = 1_793_600_000_000u64;
    let lines = [
        kong(t0, "198.18.1.23", "REDACTED", 200, &claims(4_102_444_800)),
        kong(t0 + 3_600_000, "198.18.1.23", "REDACTED", 200, &claims(t0 / 1000 - 600)),
        kong(t0 + 3_700_000, "198.18.1.23", "REDACTED", 200, &claims(t0 / 1000 - 600)),
    ];
    let r = replay_lines(&lines, &["--profile", "kong"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.rules().iter().any(|x| x == "expired-use"), "the expired uses raised nothing: {}", r.stdout);
}

#[test]
fn a_place_written_into_the_line_does_not_hide_the_travel() {
    // tokenhound-format lines may carry a `geo`; with a GeoIP database
    // configured it is the database's word that counts: the thief's line
    // that claims to be a VPN exit beside the victim's city stays travel
    let claims = r#""claims":{"iss":"https://idp.acme.example","jti":"geo-lie","sub":"victim","exp":1893456000}"#;
    let lines = [
        format!(r#"{{"time":"2026-11-02T08:00:00Z","client_ip":"198.18.1.23","status":200,{claims}}}"#),
        format!(
            r#"{{"time":"2026-11-02T08:15:00Z","client_ip":"198.18.126.77","status":200,{claims},"geo":{{"lat":0.0,"lon":0.0,"country":"ZZ","anonymizer":["vpn"]}}}}"#
        ),
    ];
    let honest =
        [lines[0].clone(), lines[1].replace(r#","geo":{"lat":0.0,"lon":0.0,"country":"ZZ","anonymizer":["vpn"]}"#, "")];
    let (lied, told) =
        (replay_lines(&lines, &["--profile", "tokenhound"]), replay_lines(&honest, &["--profile", "tokenhound"]));
    assert!(told.rules().contains(&"impossible-travel".to_string()), "{}", told.all());
    assert_eq!(lied.rules(), told.rules(), "{}", lied.all());
}

#[test]
fn a_place_written_beside_an_unknown_address_does_not_hide_the_travel() {
    // the line names an address the database does not know (private, or
    // none at all) and a place right beside the victim with a radius that
    // covers the globe: with a database configured it is not believed
    let c = r#""claims":{"iss":"https://idp.acme.example","jti":"geo-lie-2","sub":"victim","exp":1893456000}"#;
    let lie = r#","geo":{"lat":51.5,"lon":-0.12,"radius_km":20000}"#;
    let lines = |injected: &str| {
        vec![
            format!(r#"{{"time":"2026-11-02T08:00:00Z","client_ip":"198.18.1.23","status":200,{c}}}"#),
            injected.to_string(),
            format!(r#"{{"time":"2026-11-02T08:15:00Z","client_ip":"198.18.126.77","status":200,{c}}}"#),
        ]
    };
    for injected in [
        format!(r#"{{"time":"2026-11-02T08:10:00Z","client_ip":"10.9.8.7","status":200,{c}{lie}}}"#),
        format!(r#"{{"time":"2026-11-02T08:10:00Z","status":200,{c}{lie}}}"#),
        format!(
            r#"{{"time":"2026-11-02T08:10:00Z","client_ip":"10.9.8.7","status":200,{c},"geo":{{"lat":51.5,"lon":-0.12,"anonymizer":["vpn"]}}}}"#
        ),
    ] {
        let r = replay_lines(&lines(&injected), &["--profile", "tokenhound"]);
        assert!(r.rules().contains(&"impossible-travel".to_string()), "{injected}: {}", r.all());
    }
}
