//! Verification keys: a JWKS document or PEM public keys, with an explicit
//! algorithm allow-list. A `kid` is looked up only in this configured set;
//! `jku`, `x5u` and embedded keys are never followed.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::signature::{self as lc, ParsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};

use super::JwtHeader;
use crate::model::Verdict;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a JWKS document: {why}")]
    Jwks { path: String, why: String },
    #[error("{path}: key {kid:?} cannot be used: {why}")]
    Key { path: String, kid: String, why: String },
    #[error("{path} is not a PEM public key (RSA, EC or Ed25519)")]
    Pem { path: String },
    #[error("unknown algorithm {0:?} in the allow-list")]
    Alg(String),
    #[error("cannot fetch JWKS from {url}: {why}")]
    Fetch { url: String, why: String },
}

struct Entry {
    key: DecodingKey,
    /// The algorithm pinned by the JWK's `alg`, when it has one.
    alg: Option<Algorithm>,
    /// The key parsed once for each allowed algorithm of its family that
    /// it may verify (RSA, EC, EdDSA): jsonwebtoken builds the key again
    /// for every signature (for RSA also its Montgomery context, a quarter
    /// of a verification). HMAC secrets and keys aws-lc refuses here go
    /// through jsonwebtoken, which gives them their verdict as before.
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl Entry {
    fn new(key: DecodingKey, alg: Option<Algorithm>, allowed: &[Algorithm]) -> Self {
        let parsed = allowed
            .iter()
            .filter(|a| alg.is_none_or(|p| p == **a) && a.family() == key.family())
            .filter_map(|a| Some((*a, parse_for(&key, *a)?)))
            .collect();
        Entry { key, alg, parsed }
    }

    /// What this key says of the signature: jsonwebtoken's answer.
    fn verify(&self, input: &[u8], sig: &str, alg: Algorithm, decoded: &mut Option<Vec<u8>>) -> Check {
        let Some((_, key)) = self.parsed.iter().find(|(a, _)| *a == alg) else {
            return match jsonwebtoken::crypto::verify(sig, input, &self.key, alg) {
                Ok(true) => Check::Valid,
                Ok(false) => Check::Invalid,
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Base64(_)) => Check::NotBase64,
                Err(_) => Check::Unusable,
            };
        };
        if decoded.is_none() {
            // the decoding jsonwebtoken does
            let Ok(bytes) = URL_SAFE_NO_PAD.decode(sig) else { return Check::NotBase64 };
            *decoded = Some(bytes);
        }
        match key.verify_sig(input, decoded.as_deref().unwrap_or_default()) {
            Ok(()) => Check::Valid,
            Err(_) => Check::Invalid,
        }
    }
}

/// One key's answer on one signature.
enum Check {
    Valid,
    Invalid,
    /// The signature is not base64url: the token is malformed.
    NotBase64,
    /// The key cannot verify this algorithm.
    Unusable,
}

/// `key` parsed for `alg` with the parameters jsonwebtoken verifies it
/// with (its `crypto::aws_lc`); `None` for HMAC and what aws-lc refuses.
fn parse_for(key: &DecodingKey, alg: Algorithm) -> Option<ParsedPublicKey> {
    use jsonwebtoken::DecodingKeyKind as K;
    let rsa: &'static lc::RsaParameters = match alg {
        Algorithm::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &lc::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &lc::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &lc::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => return ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, bytes(key)?).ok(),
        Algorithm::ES384 => return ParsedPublicKey::new(&lc::ECDSA_P384_SHA384_FIXED, bytes(key)?).ok(),
        Algorithm::EdDSA => return ParsedPublicKey::new(&lc::ED25519, bytes(key)?).ok(),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
    };
    match key.kind() {
        K::SecretOrDer(der) => ParsedPublicKey::new(rsa, der).ok(),
        // an integer's leading zero bytes (JWKS that RFC 7518's minimal
        // encoding was lost on) change nothing but what aws-lc accepts
        K::RsaModulusExponent { n, e } => {
            let strip = |b: &[u8]| b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..].to_vec();
            lc::RsaPublicKeyComponents { n: strip(n), e: strip(e) }.to_parsed_public_key(rsa).ok()
        }
    }
}

fn bytes(key: &DecodingKey) -> Option<&[u8]> {
    match key.kind() {
        jsonwebtoken::DecodingKeyKind::SecretOrDer(b) => Some(b),
        jsonwebtoken::DecodingKeyKind::RsaModulusExponent { .. } => None,
    }
}

/// The configured keys and allowed algorithms.
pub struct KeySet {
    by_kid: HashMap<String, Entry>,
    /// Keys without a kid (PEM files): tried when a token has no kid.
    anonymous: Vec<Entry>,
    allowed: Vec<Algorithm>,
    leeway: u64,
}

impl KeySet {
    pub fn new(allowed: &[String], leeway_secs: u64) -> Result<Self, KeyError> {
        let allowed = allowed
            .iter()
            .map(|a| Algorithm::from_str(a).map_err(|_| KeyError::Alg(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeySet { by_kid: HashMap::new(), anonymous: Vec::new(), allowed, leeway: leeway_secs })
    }

    /// The clock skew the keys were configured with.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway
    }

    pub fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add every key of a JWKS document.
    pub fn add_jwks_json(&mut self, json: &str, origin: &str) -> Result<(), KeyError> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| KeyError::Jwks { path: origin.into(), why: e.to_string() })?;
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Key {
                path: origin.into(),
                kid: kid.clone(),
                why: e.to_string(),
            })?;
            let alg = jwk.common.key_algorithm.and_then(|a| Algorithm::from_str(&a.to_string()).ok());
            let e = Entry::new(key, alg, &self.allowed);
            if kid.is_empty() {
                self.anonymous.push(e);
            } else {
                self.by_kid.insert(kid, e);
            }
        }
        Ok(())
    }

    /// Fetch a JWKS document over HTTP(S): the configured URL only (no
    /// redirects), a 10 s timeout, at most 1 MiB.
    pub fn add_jwks_url(&mut self, url: &str) -> Result<(), KeyError> {
        // never print credentials: user-info or an `api_key` query in the URL
        let shown = crate::model::redact_url(url);
        let fail = |why: String| KeyError::Fetch { url: shown.clone(), why: why.replace(url, &shown) };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .max_redirects(0)
            .build()
            .into();
        let mut resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
        let text = resp.body_mut().with_config().limit(1 << 20).read_to_string().map_err(|e| fail(e.to_string()))?;
        self.add_jwks_json(&text, &shown)
    }

    /// A JWKS from a file, or from a URL (`http://` / `https://`).
    pub fn add_jwks(&mut self, source: &str) -> Result<(), KeyError> {
        if source.starts_with("https://") || source.starts_with("http://") {
            self.add_jwks_url(source)
        } else {
            self.add_jwks_file(Path::new(source))
        }
    }

    pub fn add_jwks_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read { path: p.clone(), source: e })?;
        self.add_jwks_json(&text, &p)
    }

    /// Add a PEM public key; `kid` names it, or it serves tokens without kid.
    pub fn add_pem_file(&mut self, path: &Path, kid: Option<&str>) -> Result<(), KeyError> {
        let p = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| KeyError::Read { path: p.clone(), source: e })?;
        let key = DecodingKey::from_rsa_pem(&pem)
            .or_else(|_| DecodingKey::from_ec_pem(&pem))
            .or_else(|_| DecodingKey::from_ed_pem(&pem))
            .map_err(|_| KeyError::Pem { path: p })?;
        let e = Entry::new(key, None, &self.allowed);
        match kid {
            Some(k) => {
                self.by_kid.insert(k.to_string(), e);
            }
            None => self.anonymous.push(e),
        }
        Ok(())
    }

    /// Verify the signature of `token` and give the verdict. Claims (exp,
    /// nbf, aud) are not judged here: expiry is a rule of its own. The
    /// signature is checked over the signing input as it was sent, so a
    /// header tokenhound reads leniently cannot hide a forgery.
    ///
    /// Which keys are tried: a token's `kid` picks that key; a `kid` that no
    /// named key has is tried against the unnamed (PEM) keys; a token without
    /// `kid` is tried against every key of its algorithm's family (at most
    /// [`MAX_TRIES`]). No candidate at all is `unknown_kid`; candidates that
    /// all fail are `bad_signature`.
    pub fn verify(&self, token: &str, header: &JwtHeader) -> Verdict {
        let alg_name = header.alg.as_deref().unwrap_or("");
        if alg_name.eq_ignore_ascii_case("none") || alg_name.is_empty() {
            return Verdict::AlgNone;
        }
        let Ok(alg) = Algorithm::from_str(alg_name) else {
            return Verdict::AlgNotAllowed;
        };
        if !self.allowed.contains(&alg) {
            return Verdict::AlgNotAllowed;
        }
        let fits = |e: &&Entry| e.alg.is_none_or(|a| a == alg) && e.key.family() == alg.family();
        let candidates: Vec<&Entry> = match header.kid.as_deref().and_then(|k| self.by_kid.get(k)) {
            Some(e) => vec![e],
            None if header.kid.is_some() => self.anonymous.iter().filter(fits).take(MAX_TRIES).collect(),
            None => self.anonymous.iter().chain(self.by_kid.values()).filter(fits).take(MAX_TRIES).collect(),
        };
        if candidates.is_empty() {
            return Verdict::UnknownKid;
        }
        let Some((input, sig)) = super::jwt::split_signature(token) else {
            return Verdict::Malformed;
        };
        let mut verdict = Verdict::BadSignature;
        // the signature's bytes, decoded at the first key that needs them
        let mut decoded = None;
        for e in candidates {
            // a key only verifies its own family (no RSA public key as an HMAC secret)
            if !fits(&e) {
                verdict = Verdict::AlgNotAllowed;
                continue;
            }
            match e.verify(input.as_bytes(), sig, alg, &mut decoded) {
                Check::Valid => return Verdict::Valid,
                Check::Invalid => {}
                Check::NotBase64 => return Verdict::Malformed,
                Check::Unusable => verdict = Verdict::AlgNotAllowed,
            }
        }
        verdict
    }
}

/// At most this many keys are tried for one token without a matching `kid`.
pub const MAX_TRIES: usize = 8;
