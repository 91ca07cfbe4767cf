//! Turn logged claims or a raw bearer token into a shared [`TokenInfo`]:
//! decode, verify and derive the identity once per distinct token (bounded
//! cache), then forget the raw token.

use std::hash::BuildHasherDefault;
use std::sync::Arc;

/// Both caches are keyed by keyed-PRF output: no need to hash it again.
type KeyHash = BuildHasherDefault<crate::engine::state::KeyHasher>;

use super::claims::is_blank;
use super::{decode_unverified, IdentityKeys, KeySet, RawClaims, TokenError, TwoGenCache};
use crate::model::{TokenId, TokenInfo, TokenKey, Verdict};

#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// Tokens longer than this are refused before decoding.
    pub max_token_bytes: usize,
    /// Entries per cache generation (memory stays under twice this).
    pub cache_capacity: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig { max_token_bytes: 16 * 1024, cache_capacity: 65_536 }
    }
}

type Resolved = Result<Arc<TokenInfo>, TokenError>;

/// One per worker thread (caches are not shared, keys are).
pub struct TokenResolver {
    ids: IdentityKeys,
    keys: Option<Arc<KeySet>>,
    /// Where `keys` come from when they can change, and the version held.
    ring: Option<(Arc<super::KeyRing>, u64)>,
    cfg: ResolverConfig,
    raw_cache: TwoGenCache<u128, Resolved, KeyHash>,
    claims_cache: TwoGenCache<TokenKey, Arc<TokenInfo>, KeyHash>,
    /// Distinct raw tokens decoded (cache misses).
    pub decoded: u64,
}

impl TokenResolver {
    pub fn new(ids: IdentityKeys, keys: Option<Arc<KeySet>>, cfg: ResolverConfig) -> Self {
        let cap = cfg.cache_capacity;
        TokenResolver {
            ids,
            keys,
            ring: None,
            cfg,
            raw_cache: TwoGenCache::new(cap),
            claims_cache: TwoGenCache::new(cap),
            decoded: 0,
        }
    }

    /// Verify against a key ring that may be reloaded (the stream).
    pub fn with_ring(ids: IdentityKeys, ring: Arc<super::KeyRing>, cfg: ResolverConfig) -> Self {
        let (keys, v) = ring.current();
        let mut r = TokenResolver::new(ids, Some(keys), cfg);
        r.ring = Some((ring, v));
        r
    }

    /// Pick up reloaded keys; verdicts cached under the old ones are dropped.
    fn sync_keys(&mut self) {
        let Some((ring, held)) = &self.ring else { return };
        if ring.version() != *held {
            let (keys, v) = ring.current();
            self.keys = Some(keys);
            self.ring = Some((ring.clone(), v));
            self.raw_cache = TwoGenCache::new(self.cfg.cache_capacity);
        }
    }

    /// A raw bearer token (without the `Bearer ` prefix).
    pub fn from_raw(&mut self, raw: &str) -> Resolved {
        self.sync_keys();
        if raw.len() > self.cfg.max_token_bytes {
            return Err(TokenError::TooLarge { len: raw.len(), max: self.cfg.max_token_bytes });
        }
        let ck = self.ids.cache_key(raw);
        if let Some(r) = self.raw_cache.get(&ck) {
            return r;
        }
        self.decoded += 1;
        let r = self.decode_raw(raw);
        self.raw_cache.insert(ck, r.clone());
        r
    }

    fn decode_raw(&self, raw: &str) -> Resolved {
        let jwt = decode_unverified(raw, self.cfg.max_token_bytes)?;
        let claims = jwt.claims()?;
        let verdict = match &self.keys {
            Some(k) if !k.is_empty() => k.verify(raw, &jwt.header),
            _ if jwt.header.alg.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("none")) => Verdict::AlgNone,
            _ => Verdict::NotChecked,
        };
        let (key, id) = match (opt(&claims.iss), opt(&claims.jti)) {
            (iss, Some(jti)) => {
                let iss = iss.unwrap_or("");
                (self.ids.jti_key(iss, jti), TokenId::Jti { iss: iss.into(), jti: jti.into() })
            }
            _ => {
                let (k, hexid) = self.ids.fingerprint(raw);
                (k, TokenId::Fingerprint(hexid.into()))
            }
        };
        let mut info = build(key, id, &claims, false)?;
        info.verdict = verdict;
        if info.kid.is_none() {
            info.kid = jwt.header.kid.as_deref().map(Into::into);
        }
        info.alg = jwt.header.alg.as_deref().map(Into::into);
        Ok(Arc::new(info))
    }

    /// Claims a gateway logged after verifying the token itself. Returns
    /// `Ok(None)` when the claims are blank (an unauthenticated request).
    pub fn from_claims(&mut self, claims: &RawClaims<'_>, lenient: bool) -> Result<Option<Arc<TokenInfo>>, TokenError> {
        if claims.is_empty() {
            return Ok(None);
        }
        let iss = opt(&claims.iss).unwrap_or("");
        let (key, id) = match opt(&claims.jti) {
            Some(jti) => {
                let key = self.ids.jti_key(iss, jti);
                if let Some(hit) = self.claims_cache.get(&key) {
                    return Ok(Some(hit));
                }
                (key, TokenId::Jti { iss: iss.into(), jti: jti.into() })
            }
            None => {
                // No jti and no raw token: the (iss, sub, iat) triple names the
                // token for correlation, through the same keyed fingerprint.
                let (Some(sub), Some(iat)) = (opt(&claims.sub), claims.iat.as_ref()) else {
                    return Err(TokenError::NoIdentity { iss: Some(iss.to_string()) });
                };
                let iat = iat.secs("iat", lenient)?.unwrap_or(0);
                let (k, h) = self.ids.fingerprint(&format!("claims\0{iss}\0{sub}\0{iat}"));
                (k, TokenId::Fingerprint(h.into()))
            }
        };
        let info = Arc::new(build(key, id, claims, lenient)?);
        self.claims_cache.insert(key, info.clone());
        Ok(Some(info))
    }
}

fn opt<'a>(s: &'a Option<super::Text<'_>>) -> Option<&'a str> {
    s.as_deref().filter(|v| !is_blank(v))
}

fn build(key: TokenKey, id: TokenId, c: &RawClaims<'_>, lenient: bool) -> Result<TokenInfo, TokenError> {
    let arc = |s: &Option<super::Text<'_>>| opt(s).map(Arc::<str>::from);
    let date = |d: &Option<super::NumericDate<'_>>, name| match d {
        Some(d) => d.secs(name, lenient),
        None => Ok(None),
    };
    Ok(TokenInfo {
        key,
        id,
        iss: arc(&c.iss),
        sub: arc(&c.sub),
        client_id: arc(&c.client_id).or_else(|| arc(&c.azp)),
        aud: c.aud.as_ref().and_then(|a| a.first()).filter(|a| !is_blank(a)).map(Into::into),
        kid: arc(&c.kid),
        alg: arc(&c.alg),
        exp: date(&c.exp, "exp")?,
        iat: date(&c.iat, "iat")?,
        nbf: date(&c.nbf, "nbf")?,
        verdict: Verdict::NotChecked,
    })
}
