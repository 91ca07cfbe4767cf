//! Signature verification with real signed JWTs (jsonwebtoken encode with the
//! shipped test keys): valid, bad signature, unknown kid, alg none, alg not
//! allowed, algorithm confusion, tokens without jti, and the forgeries that
//! once slipped through as `malformed` or `valid` (odd header fields, padded
//! signatures, unknown `crit`, PEM keys and kid-less tokens).

mod common;

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use tokenhound::model::{TokenId, Verdict};
use tokenhound::token::{IdentityKeys, KeySet, ResolverConfig, TokenResolver};

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
        assert_eq!(r.from_raw(&tok).verdict, want);
    }
    // algorithm confusion: HS256 "signed" with the RSA public key as secret
    let pubkey = key("idp-rs256.pub");
    let confused = sign(Algorithm::HS256, Some("idp-2026-11"), &EncodingKey::from_secret(&pubkey), Some("g"));
    assert_ne!(r.from_raw(&confused).verdict, Verdict::Valid);
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
    assert_eq!(r.from_raw(&none).verdict, Verdict::AlgNone);
}

#[test]
fn identity_by_jti_or_keyed_fingerprint() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let mut r = resolver(&["RS256"]);
    let with = r.from_raw(&sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("j-1")));
    assert!(matches!(&with.id, TokenId::Jti { jti, .. } if &**jti == "j-1"));
    assert!(with.vouched);
    let raw = sign(Algorithm::RS256, Some("idp-2026-11"), &idp, None);
    let a = r.from_raw(&raw);
    let TokenId::Fingerprint(fp) = &a.id else { panic!("fingerprint expected") };
    assert_eq!(fp.len(), 32);
    assert!(!raw.contains(&**fp));
    assert_eq!(a.sha256.as_deref().map(str::len), Some(43));
    // same token, same id; another deployment key, another id
    assert_eq!(r.from_raw(&raw).id, a.id);
    let mut other = TokenResolver::new(IdentityKeys::new(b"another-deployment"), None, ResolverConfig::default());
    assert_ne!(other.from_raw(&raw).id, a.id);
    assert_eq!(r.decoded, 2, "decoded once per distinct token");
}

#[test]
fn odd_claims_make_a_malformed_token_not_a_bad_line() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("idp-2026-11".into());
    let mut r = resolver(&["RS256"]);
    for claims in [
        serde_json::json!({"iss": "i", "jti": "s", "exp": "9999999999"}),
        serde_json::json!({"iss": "i", "jti": "s", "exp": 1e14}),
        serde_json::json!({"iss": "i", "jti": {"a": 1}}),
        serde_json::json!({"iss": "i", "jti": "x".repeat(5000)}),
    ] {
        let t = r.from_raw(&encode(&h, &claims, &idp).unwrap());
        assert_eq!(t.verdict, Verdict::Malformed, "{claims}");
        assert!(matches!(t.id, TokenId::Fingerprint(_)), "named by its fingerprint: {claims}");
        assert!(!t.vouched);
    }
    // duplicate jti: parsers disagree on which wins, so neither does
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let input =
        format!("{}.{}", b64(r#"{"alg":"RS256","kid":"idp-2026-11"}"#), b64(r#"{"iss":"i","jti":"a","jti":"b"}"#));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &idp, Algorithm::RS256).unwrap();
    let t = r.from_raw(&format!("{input}.{sig}"));
    assert_eq!(t.verdict, Verdict::Malformed);
    assert_eq!(t.detail.as_deref(), Some("claim `jti` is given twice"));
}

#[test]
fn forgeries_with_odd_headers_are_caught_as_forgeries() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let attacker = EncodingKey::from_rsa_pem(&key("attacker-rs256.key")).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let payload = b64(r#"{"iss":"https://idp.acme.example","jti":"z","sub":"ceo"}"#);
    let signed = |header: &str, key: &EncodingKey| {
        let input = format!("{}.{payload}", b64(header));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, Algorithm::RS256).unwrap();
        format!("{input}.{sig}")
    };
    let mut r = resolver(&["RS256"]);
    // a foreign key with an extra non-string header field, or an x5c that is
    // not a list: the signature is checked anyway and fails
    let extra = signed(r#"{"alg":"RS256","kid":"idp-2026-11","x-n":5}"#, &attacker);
    assert_eq!(r.from_raw(&extra).verdict, Verdict::BadSignature);
    let x5c = signed(r#"{"alg":"RS256","kid":"idp-2026-11","x5c":"nope"}"#, &attacker);
    assert_eq!(r.from_raw(&x5c).verdict, Verdict::BadSignature);
    // the IdP's own key, but a crit extension nobody implements: not valid
    let crit = signed(r#"{"alg":"RS256","kid":"idp-2026-11","crit":["x-ext"],"x-ext":true}"#, &idp);
    let t = r.from_raw(&crit);
    assert_eq!(t.verdict, Verdict::Malformed);
    assert!(!t.vouched);
    // a padded or non-base64url signature
    let good = signed(r#"{"alg":"RS256","kid":"idp-2026-11"}"#, &idp);
    assert_eq!(r.from_raw(&good).verdict, Verdict::Valid);
    for bad in [format!("{good}="), format!("{good}!"), good.replace('.', ".+").replacen(".+", ".", 1)] {
        let v = r.from_raw(&bad).verdict;
        assert!(v == Verdict::Malformed || v == Verdict::BadSignature, "{v:?}");
        assert_ne!(v, Verdict::Valid);
    }
    // garbage bearer values are tokens too: malformed, fingerprinted
    for junk in ["x", "a.b", "Zm9v.YmFy.YmF6", &"A".repeat(20_000)] {
        let t = r.from_raw(junk);
        assert_eq!(t.verdict, Verdict::Malformed, "{junk:.20}");
        assert!(matches!(t.id, TokenId::Fingerprint(_)));
    }
}

#[test]
fn pem_keys_with_and_without_kid() {
    let es = EncodingKey::from_ec_pem(&key("bench-es256.key")).unwrap();
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    // a PEM key without a name serves tokens whatever kid they carry
    let mut ks = KeySet::new(&["ES256".to_string(), "RS256".to_string()], 60).unwrap();
    ks.add_pem_file(&common::root().join("sample-logs/keys/bench-es256.pub"), None).unwrap();
    let mut r = TokenResolver::new(IdentityKeys::new(b"pem-tests"), Some(Arc::new(ks)), ResolverConfig::default());
    assert_eq!(r.from_raw(&sign(Algorithm::ES256, Some("any-kid"), &es, Some("p1"))).verdict, Verdict::Valid);
    assert_eq!(r.from_raw(&sign(Algorithm::ES256, None, &es, Some("p2"))).verdict, Verdict::Valid);
    // no key of the RSA family at all
    assert_eq!(r.from_raw(&sign(Algorithm::RS256, Some("k"), &idp, Some("p3"))).verdict, Verdict::UnknownKid);
    // a token without kid against a JWKS whose keys all have one: tried by family
    let mut r = resolver(&["RS256", "ES256"]);
    assert_eq!(r.from_raw(&sign(Algorithm::RS256, None, &idp, Some("p4"))).verdict, Verdict::Valid);
    let attacker = EncodingKey::from_rsa_pem(&key("attacker-rs256.key")).unwrap();
    assert_eq!(r.from_raw(&sign(Algorithm::RS256, None, &attacker, Some("p5"))).verdict, Verdict::BadSignature);
}

#[test]
fn oversize_tokens_are_malformed_without_decoding() {
    let cfg = ResolverConfig { max_token_bytes: 100, cache_capacity: 8, ..Default::default() };
    let mut r = TokenResolver::new(IdentityKeys::new(b"k"), None, cfg);
    let t = r.from_raw(&"a".repeat(101));
    assert_eq!(t.verdict, Verdict::Malformed);
    assert_eq!(t.detail.as_deref(), Some("token is over the size limit"));
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
    assert_eq!(r.from_raw(&tok).verdict, Verdict::UnknownKid);
    assert_eq!(r.from_raw(&tok).verdict, Verdict::UnknownKid, "cached");
    rotated.store(true, Ordering::SeqCst);
    assert_eq!(ring.reload().unwrap(), 2);
    assert_eq!(r.from_raw(&tok).verdict, Verdict::Valid, "the new key verifies after the reload");
}

/// The workers of one process share decodes: a token another worker
/// verified is not verified again, and gets the same verdict and id.
#[test]
fn workers_share_decodes() {
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let shared = tokenhound::token::SharedDecodes::new(1024, 1 << 20);
    let mut a = resolver(&["RS256"]).with_shared(shared.clone());
    let mut b = resolver(&["RS256"]).with_shared(shared.clone());
    let good = sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("j-shared"));
    let forged = format!("{}x", &good[..good.len() - 1]);
    let (ga, fa) = (a.from_raw(&good), a.from_raw(&forged));
    let (gb, fb) = (b.from_raw(&good), b.from_raw(&forged));
    assert_eq!((a.decoded, b.decoded), (2, 0), "the second worker verified nothing again");
    assert_eq!((ga.verdict, gb.verdict), (Verdict::Valid, Verdict::Valid));
    assert_ne!(fa.verdict, Verdict::Valid);
    assert_eq!((fa.verdict, &fa.id), (fb.verdict, &fb.id));
    // a worker under other identity keys does not share the cache keys
    let mut c = TokenResolver::new(IdentityKeys::new(b"another-deployment"), None, ResolverConfig::default())
        .with_shared(shared);
    assert_ne!(c.from_raw(&good).key, ga.key);
    assert_eq!(c.decoded, 1);
}

#[test]
fn tokens_of_one_subject_share_its_names() {
    // the engine keys a subject's baseline by (iss, sub): one Arc each
    // among the tokens decoded, so a lookup compares addresses
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let attacker = EncodingKey::from_rsa_pem(&key("attacker-rs256.key")).unwrap();
    let mut r = resolver(&["RS256"]);
    let a = r.from_raw(&sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("s1")));
    let b = r.from_raw(&sign(Algorithm::RS256, Some("idp-2026-11"), &idp, Some("s2")));
    assert_ne!(a.id, b.id);
    assert!(Arc::ptr_eq(a.sub.as_ref().unwrap(), b.sub.as_ref().unwrap()));
    assert!(Arc::ptr_eq(a.iss.as_ref().unwrap(), b.iss.as_ref().unwrap()));
    // the names are still the claims' words, whatever the signature says
    let f = r.from_raw(&sign(Algorithm::RS256, Some("idp-2026-11"), &attacker, Some("s3")));
    assert_eq!(f.verdict, Verdict::BadSignature);
    assert_eq!(f.sub.as_deref(), Some("alice"));
    // logged claims share them too
    let c = r
        .from_claims(
            &serde_json::from_str(r#"{"iss":"https://idp.acme.example","sub":"alice","jti":"c1"}"#).unwrap(),
            false,
        )
        .unwrap();
    assert!(Arc::ptr_eq(c.sub.as_ref().unwrap(), a.sub.as_ref().unwrap()));
}

/// Every asymmetric algorithm verifies through keys parsed once (aws-lc's
/// `ParsedPublicKey`) exactly as jsonwebtoken verifies with the same key:
/// real signatures of RSA (PKCS#1 and PSS, three digests each), P-256,
/// P-384 and Ed25519 keys are valid; a changed signature, another key's
/// signature, a signature that is not base64url, an empty one and one
/// with padding get jsonwebtoken's verdict, whichever path took them.
#[test]
fn parsed_keys_verify_as_jsonwebtoken_does() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as lc, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
    use jsonwebtoken::DecodingKey;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rng = SystemRandom::new();
    let p384 = EcdsaKeyPair::generate_pkcs8(&lc::ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let p384_pub = EcdsaKeyPair::from_pkcs8(&lc::ECDSA_P384_SHA384_FIXED_SIGNING, p384.as_ref())
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed_pub = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap().public_key().as_ref().to_vec();
    let (x, y) = p384_pub[1..].split_at(48);
    let jwks = serde_json::json!({"keys": [
        {"kty": "EC", "crv": "P-384", "kid": "ec-384", "x": b64.encode(x), "y": b64.encode(y)},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": b64.encode(&ed_pub)},
    ]});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    let all = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
    let mut ks = KeySet::new(&all.map(String::from), 60).unwrap();
    ks.add_jwks_file(&dir.path().join("jwks.json")).unwrap();
    ks.add_pem_file(&common::root().join("sample-logs/keys/idp-rs256.pub"), Some("rsa")).unwrap();
    ks.add_pem_file(&common::root().join("sample-logs/keys/bench-es256.pub"), Some("es-1")).unwrap();
    let mut r = TokenResolver::new(IdentityKeys::new(b"parsed-keys"), Some(Arc::new(ks)), ResolverConfig::default());

    // jsonwebtoken's own verdict for `token` under `key` (the reference)
    let reference = |token: &str, key: &DecodingKey, alg: Algorithm| {
        let (input, sig) = token.rsplit_once('.').unwrap();
        match jsonwebtoken::crypto::verify(sig, input.as_bytes(), key, alg) {
            Ok(true) => Verdict::Valid,
            Ok(false) => Verdict::BadSignature,
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Base64(_)) => Verdict::Malformed,
            Err(_) => Verdict::AlgNotAllowed,
        }
    };
    let rsa_pub = DecodingKey::from_rsa_pem(&key("idp-rs256.pub")).unwrap();
    let es_pub = DecodingKey::from_ec_pem(&key("bench-es256.pub")).unwrap();
    let p384_key = DecodingKey::from_ec_components(&b64.encode(x), &b64.encode(y)).unwrap();
    let ed_key = DecodingKey::from_ed_components(&b64.encode(&ed_pub)).unwrap();
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let attacker = EncodingKey::from_rsa_pem(&key("attacker-rs256.key")).unwrap();
    let es = EncodingKey::from_ec_pem(&key("bench-es256.key")).unwrap();
    let p384_sign = EncodingKey::from_ec_der(p384.as_ref());
    let ed_sign = EncodingKey::from_ed_der(ed.as_ref());
    let rsa_algs =
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];
    let mut cases: Vec<(Algorithm, &str, &EncodingKey, &DecodingKey)> =
        rsa_algs.iter().map(|a| (*a, "rsa", &idp, &rsa_pub)).collect();
    cases.push((Algorithm::ES256, "es-1", &es, &es_pub));
    cases.push((Algorithm::ES384, "ec-384", &p384_sign, &p384_key));
    cases.push((Algorithm::EdDSA, "ed-1", &ed_sign, &ed_key));
    let mut n = 0;
    for (alg, kid, signer, public) in cases {
        let good = sign(alg, Some(kid), signer, Some(&format!("good-{alg:?}")));
        let (input, sig) = good.rsplit_once('.').unwrap();
        // one signature byte changed (decoded, flipped, encoded again)
        let mut raw = b64.decode(sig).unwrap();
        let mid = raw.len() / 2;
        raw[mid] ^= 0x01;
        let flipped = format!("{input}.{}", b64.encode(&raw));
        let other = if matches!(alg, Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA) {
            // the RSA key's signature under this header: wrong length and key
            let rsa = sign(Algorithm::RS256, Some(kid), &attacker, None);
            format!("{input}.{}", rsa.rsplit_once('.').unwrap().1)
        } else {
            sign(alg, Some(kid), &attacker, Some(&format!("good-{alg:?}")))
        };
        let variants = [
            (good.clone(), Verdict::Valid),
            (flipped, Verdict::BadSignature),
            (other, Verdict::BadSignature),
            (format!("{input}.{}*", &sig[1..]), Verdict::Malformed),
            (format!("{input}."), Verdict::BadSignature),
            (format!("{input}.{sig}=="), Verdict::Malformed),
        ];
        for (token, want) in variants {
            let got = r.from_raw(&token).verdict;
            assert_eq!(got, reference(&token, public, alg), "{alg:?}: tokenhound and jsonwebtoken disagree");
            assert_eq!(got, want, "{alg:?}");
            n += 1;
        }
    }
    assert_eq!(n, 54);
}

/// A JWKS whose RSA modulus keeps a leading zero byte (RFC 7518 asks for
/// the minimal encoding; some publishers sign-extend it): the key is the
/// same number, so the identity provider's real tokens are valid, not
/// forgeries (aws-lc refuses the padded component as it is given), and a
/// signature by another key is still not.
#[test]
fn a_modulus_with_a_leading_zero_is_the_same_key() {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::root().join("sample-logs/keys/idp-jwks.json")).unwrap())
            .unwrap();
    let mut k = jwks["keys"][0].clone();
    let mut n = vec![0u8];
    n.extend(b64.decode(k["n"].as_str().unwrap()).unwrap());
    k["n"] = b64.encode(&n).into();
    k["kid"] = "padded".into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), serde_json::json!({"keys": [k]}).to_string()).unwrap();
    let mut ks = KeySet::new(&["RS256".to_string()], 60).unwrap();
    ks.add_jwks_file(&dir.path().join("jwks.json")).unwrap();
    let mut r = TokenResolver::new(IdentityKeys::new(b"padded"), Some(Arc::new(ks)), ResolverConfig::default());
    let idp = EncodingKey::from_rsa_pem(&key("idp-rs256.key")).unwrap();
    let attacker = EncodingKey::from_rsa_pem(&key("attacker-rs256.key")).unwrap();
    assert_eq!(r.from_raw(&sign(Algorithm::RS256, Some("padded"), &idp, Some("z1"))).verdict, Verdict::Valid);
    assert_eq!(
        r.from_raw(&sign(Algorithm::RS256, Some("padded"), &attacker, Some("z2"))).verdict,
        Verdict::BadSignature
    );
}
