//! Verification keys: a JWKS document or PEM public keys, with an explicit
//! algorithm allow-list. A `kid` is looked up only in this configured set;
//! `jku`, `x5u` and embedded keys are never followed.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};

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
            let e = Entry { key, alg };
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
        let fail = |why: String| KeyError::Fetch { url: url.into(), why };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .max_redirects(0)
            .build()
            .into();
        let mut resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
        let text = resp.body_mut().with_config().limit(1 << 20).read_to_string().map_err(|e| fail(e.to_string()))?;
        self.add_jwks_json(&text, url)
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
        let e = Entry { key, alg: None };
        match kid {
            Some(k) => {
                self.by_kid.insert(k.to_string(), e);
            }
            None => self.anonymous.push(e),
        }
        Ok(())
    }

    /// Verify the signature of `token` and give the verdict. Claims (exp,
    /// nbf, aud) are not judged here: expiry is a rule of its own.
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
        let candidates: Vec<&Entry> = match header.kid.as_deref() {
            Some(kid) => match self.by_kid.get(kid) {
                Some(e) => vec![e],
                None => return Verdict::UnknownKid,
            },
            None => self.anonymous.iter().collect(),
        };
        if candidates.is_empty() {
            return Verdict::UnknownKid;
        }
        let mut verdict = Verdict::BadSignature;
        for e in candidates {
            // a key only verifies its own family (no RSA public key as an HMAC secret)
            if e.alg.is_some_and(|a| a != alg) || e.key.family() != alg.family() {
                verdict = Verdict::AlgNotAllowed;
                continue;
            }
            match check(token, &e.key, alg, self.leeway) {
                Verdict::Valid => return Verdict::Valid,
                v => verdict = v,
            }
        }
        verdict
    }
}

fn check(token: &str, key: &DecodingKey, alg: Algorithm, leeway: u64) -> Verdict {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = leeway;
    v.required_spec_claims.clear();
    match jsonwebtoken::decode::<serde::de::IgnoredAny>(token, key, &v) {
        Ok(_) => Verdict::Valid,
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Verdict::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidEddsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => Verdict::AlgNotAllowed,
            _ => Verdict::Malformed,
        },
    }
}
