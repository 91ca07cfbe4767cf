//! Signature verification with real signed JWTs (jsonwebtoken encode with the
//! shipped test keys): valid, bad signature, unknown kid, alg none, alg not
//! allowed, algorithm confusion, and tokens without jti.

mod common;

use std::sync::Arc;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use tokenhound::model::{TokenId, Verdict};
use tokenhound::token::{IdentityKeys, KeySet, ResolverConfig, TokenError, TokenResolver};

fn key(name: &str) -> Vec<u8> {
    std::fs::read(common::root().join("sample-logs/keys").join(name)).unwrap()
}

fn claims(jti: Option<&str>) -> serde_json::Value {
    let mut c =
        serde_json::json!({"iss": "https://idp.acme.example", "sub": "alice", "iat": 1793606400, "exp": 1793610000});
    if let Some(j) = jti {
        c["jti"] = j.into();
    }
    c
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, jti: Option<&str>) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(String::from);
    encode(&h, &claims(jti), key).unwrap()
}

fn resolver(allowed: &[&str]) -> TokenResolver {
    let mut ks = KeySet::new(&allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 60).unwrap();
    ks.add_jwks_file(&common::root().join("sample-logs/keys/idp-jwks.json")).unwrap();
    ks.add_pem_file(&common::root().join("sample-logs/keys/bench-es256.pub"), Some("es-1")).unwrap();
    TokenResolver::new(IdentityKeys::new(b"verify-tests-key"), Some(Arc::new(ks)), ResolverConfig::default())
}

#[test]
fn verdicts() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let attacker = EncodingKey::from_rsa_pem(&key("attacker-rs256.key")).unwrap();
    let es = EncodingKey::from_ec_pem(&key("bench-es256.key")).unwrap();
    let mut r = resolver(&["RS256", "ES256", "HS256"]);
    let cases = [
        (sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("a")), Verdict::Valid),
        (sign(Algorithm::RS256, Some("idp-2026-11"), &attacker, Some("b")), Verdict::BadSignature),
        (sign(Algorithm::RS256, Some("rotated-away"), &idp, Some("c")), Verdict::UnknownKid),
        (sign(Algorithm::ES256, Some("es-1"), &es, Some("d")), Verdict::Valid),
        // ES key named by kid, but the token claims RS256: key/alg mismatch
        (sign(Algorithm::RS256, Some("es-1"), &idp, Some("e")), Verdict::AlgNotAllowed),
        (sign(Algorithm::RS384, Some("idp-2026-11"), &idp, Some("f")), Verdict::AlgNotAllowed),
    ];
    for (tok, want) in cases {
        assert_eq!(r.from_raw(&tok).unwrap().verdict, want);
    }
    // algorithm confusion: HS256 "signed" with the RSA public key as secret
    let pubkey = key("idp-rs256.pub");
    let confused = sign(Algorithm::HS256, Some("idp-2026-11"), &EncodingKey::from_secret(&pubkey), Some("g"));
    assert_ne!(r.from_raw(&confused).unwrap().verdict, Verdict::Valid);
    // alg none, with keys configured
    let none = {
        let t = sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("h"));
        let mut parts = t.split('.');
        let _ = parts.next();
        use base64::Engine;
        format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts.next().unwrap()
        )
    };
    assert_eq!(r.from_raw(&none).unwrap().verdict, Verdict::AlgNone);
}

#[test]
fn identity_by_jti_or_keyed_fingerprint() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let mut r = resolver(&["RS256"]);
    let with = r.from_raw(&sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("j-1"))).unwrap();
    assert!(matches!(&with.id, TokenId::Jti { jti, .. } if &**jti == "j-1"));
    let raw = sign(Algorithm::RS256, Some("idp-2026-11"), &idp, None);
    let a = r.from_raw(&raw).unwrap();
    let TokenId::Fingerprint(fp) = &a.id else { panic!("fingerprint expected") };
    assert_eq!(fp.len(), 32);
    assert!(!raw.contains(&**fp));
    // same token, same id; another deployment key, another id
    assert_eq!(r.from_raw(&raw).unwrap().id, a.id);
    let mut other = TokenResolver::new(IdentityKeys::new(b"another-deployment"), None, ResolverConfig::default());
    assert_ne!(other.from_raw(&raw).unwrap().id, a.id);
    assert_eq!(r.decoded, 2, "decoded once per distinct token");
}

#[test]
fn string_exp_in_a_jwt_is_an_error_not_a_pass() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("idp-2026-11".into());
    let tok = encode(&h, &serde_json::json!({"iss": "i", "jti": "s", "exp": "9999999999"}), &idp).unwrap();
    let e = resolver(&["RS256"]).from_raw(&tok).unwrap_err();
    assert!(matches!(e, TokenError::BadClaim { claim: "exp", .. }), "{e}");
}

#[test]
fn oversize_tokens_are_refused_before_decoding() {
    let mut r =
        TokenResolver::new(IdentityKeys::new(b"k"), None, ResolverConfig { max_token_bytes: 100, cache_capacity: 8 });
    let e = r.from_raw(&"a".repeat(101)).unwrap_err();
    assert_eq!(e, TokenError::TooLarge { len: 101, max: 100 });
    assert_eq!(r.decoded, 0);
}

/// The stream reloads its keys: a token signed with a key the identity
/// provider publishes later is `unknown_kid` before the reload and `valid`
/// after it (the verdict cached under the old keys is dropped).
#[test]
fn reloaded_keys_replace_cached_verdicts() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokenhound::token::KeyRing;
    let rotated = Arc::new(AtomicBool::new(false));
    let r2 = rotated.clone();
    let ring = KeyRing::new(Box::new(move || {
        let mut ks = KeySet::new(&["RS256".to_string(), "ES256".to_string()], 60)?;
        ks.add_jwks_file(&common::root().join("sample-logs/keys/idp-jwks.json"))?;
        if r2.load(Ordering::SeqCst) {
            ks.add_pem_file(&common::root().join("sample-logs/keys/bench-es256.pub"), Some("es-1"))?;
        }
        Ok(ks)
    }))
    .unwrap();
    let ring = Arc::new(ring);
    let mut r =
        TokenResolver::with_ring(IdentityKeys::new(b"verify-tests-key"), ring.clone(), ResolverConfig::default());
    let es = EncodingKey::from_ec_pem(&key("bench-es256.key")).unwrap();
    let tok = sign(Algorithm::ES256, Some("es-1"), &es, Some("rotating-1"));
    assert_eq!(r.from_raw(&tok).unwrap().verdict, Verdict::UnknownKid);
    assert_eq!(r.from_raw(&tok).unwrap().verdict, Verdict::UnknownKid, "cached");
    rotated.store(true, Ordering::SeqCst);
    assert_eq!(ring.reload().unwrap(), 2);
    assert_eq!(r.from_raw(&tok).unwrap().verdict, Verdict::Valid, "the new key verifies after the reload");
}
