//! Forgeries that once raised nothing: a foreign key's signature behind an
//! odd header (an extra non-string field, an `x5c` that is not a list), a
//! padded or non-base64url signature, a `crit` extension nobody implements.
//! And keys that once made every real token look forged: PEM keys named by
//! their kid, tokens without kid against a JWKS whose keys all have one.

use crate::{jws, kong, replay_lines};

const P: &str = r#"{"iss":"https://idp.acme.example","jti":"forge-1","sub":"ceo@acme.example"}"#;

fn verdict_of(token: &str, status: u16) -> (Vec<String>, Option<String>, Option<i64>) {
    let r = replay_lines(
        &[kong(1_793_600_000_000, "198.18.1.23", &format!("Bearer {token}"), status, "")],
        &["--profile", "kong"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let a = r.alerts();
    let v = a.first().map(|a| a["unmapped"]["tokenhound"]["token_verdict"].as_str().unwrap().to_string());
    (r.rules(), v, a.first().and_then(|a| a["severity_id"].as_i64()))
}

#[test]
fn odd_headers_do_not_hide_a_foreign_signature() {
    for h in [
        r#"{"alg":"RS256","kid":"idp-2026-11","x-n":5}"#,
        r#"{"alg":"RS256","kid":"idp-2026-11","x5c":"not-a-list"}"#,
        r#"{"alg":"RS256","kid":"idp-2026-11","typ":"JWT","cty":{"o":1}}"#,
    ] {
        let (rules, v, sev) = verdict_of(&jws(h, P, "attacker"), 200);
        assert_eq!(rules, ["forged-token"], "{h}");
        assert_eq!(v.as_deref(), Some("bad_signature"), "{h}");
        assert_eq!(sev, Some(5), "accepted by the gateway: critical ({h})");
    }
}

#[test]
fn mangled_signatures_and_unknown_crit_are_forgeries() {
    let good = jws(r#"{"alg":"RS256","kid":"idp-2026-11"}"#, P, "idp");
    assert_eq!(verdict_of(&good, 200).0, Vec::<String>::new(), "the IdP's own token raises nothing");
    for (t, want) in [
        (format!("{good}="), "malformed"),
        (format!("{}!{}", &good[..good.len() - 4], &good[good.len() - 3..]), "malformed"),
        (jws(r#"{"alg":"RS256","kid":"idp-2026-11","crit":["x-ext"],"x-ext":1}"#, P, "idp"), "malformed"),
    ] {
        let (rules, v, sev) = verdict_of(&t, 200);
        assert_eq!(rules, ["forged-token"]);
        assert_eq!(v.as_deref(), Some(want));
        assert_eq!(sev, Some(5));
    }
    // rejected by the gateway: the rule's rejected level
    assert_eq!(verdict_of(&format!("{good}="), 401).2, Some(3));
}

#[test]
fn named_pem_keys_and_kidless_tokens_verify() {
    let es = std::fs::read(crate::common::root().join("sample-logs/keys/bench-es256.key")).unwrap();
    let es = jsonwebtoken::EncodingKey::from_ec_pem(&es).unwrap();
    let sign = |kid: Option<&str>| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = kid.map(String::from);
        let c = serde_json::json!({"iss": "https://idp.acme.example", "jti": "pem-1", "sub": "alice"});
        jsonwebtoken::encode(&h, &c, &es).unwrap()
    };
    let line = |t: &str| kong(1_793_600_000_000, "198.18.1.23", &format!("Bearer {t}"), 200, "");
    for (tok, pem) in [
        (sign(Some("es-2026")), "es-2026=sample-logs/keys/bench-es256.pub"),
        (sign(Some("any")), "sample-logs/keys/bench-es256.pub"),
        (sign(None), "es-2026=sample-logs/keys/bench-es256.pub"),
    ] {
        let r = replay_lines(&[line(&tok)], &["--profile", "kong", "--pem", pem]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert_eq!(r.rules(), Vec::<String>::new(), "{pem}: a valid token raises nothing");
    }
    // a token without kid against the sample JWKS (every key has a kid)
    let idp = jws(r#"{"alg":"RS256"}"#, P, "idp");
    assert_eq!(verdict_of(&idp, 200).0, Vec::<String>::new());
}

/// A rule's principal exceptions and issuer/client scope once believed a
/// forgery's claims: an exception for client `web-portal` silenced
/// forged-token for any forgery claiming to be `web-portal`, and claiming
/// another issuer took it out of an issuer-scoped rule.
#[test]
fn a_forgery_cannot_claim_its_way_into_an_exception_or_out_of_scope() {
    let dir = crate::common::tempdir();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for e in std::fs::read_dir(crate::common::root().join("rules")).unwrap() {
        let p = e.unwrap().path();
        let mut text = std::fs::read_to_string(&p).unwrap();
        if p.file_name().unwrap() == "forged-token.yml" {
            text = text.replace(
                "response: revoke\n",
                "response: revoke\nscope:\n  issuers: [\"https://idp.acme.example\"]\nexceptions:\n  clients: [web-portal]\n  subjects: [svc-monitor]\n",
            );
            assert!(text.contains("web-portal"));
        }
        std::fs::write(rules.join(p.file_name().unwrap()), text).unwrap();
    }
    let h = r#"{"alg":"RS256","kid":"idp-2026-11"}"#;
    let forgeries = [
        r#"{"iss":"https://idp.acme.example","jti":"x-1","sub":"eve","client_id":"web-portal"}"#,
        r#"{"iss":"https://idp.acme.example","jti":"x-2","sub":"svc-monitor"}"#,
        r#"{"iss":"https://elsewhere.example","jti":"x-3","sub":"eve"}"#,
    ];
    let lines: Vec<String> = forgeries
        .iter()
        .enumerate()
        .map(|(i, p)| {
            kong(
                1_793_600_000_000 + i as u64 * 1000,
                "198.18.1.23",
                &format!("Bearer {}", jws(h, p, "attacker")),
                200,
                "",
            )
        })
        .collect();
    let r = replay_lines(&lines, &["--profile", "kong", "--rules", rules.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.rules(), ["forged-token"; 3], "{}", r.stderr);
    // the exception still holds for a token the IdP signed
    let good = jws(
        h,
        r#"{"iss":"https://idp.acme.example","jti":"ok-1","sub":"svc-monitor","client_id":"web-portal"}"#,
        "idp",
    );
    let r = replay_lines(
        &[kong(1_793_600_000_000, "198.18.1.23", &format!("Bearer {good}"), 200, "")],
        &["--profile", "kong", "--rules", rules.to_str().unwrap()],
    );
    assert_eq!(r.rules(), Vec::<String>::new());
}
