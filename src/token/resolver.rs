//! Turn logged claims or a raw bearer token into a shared [`TokenInfo`]:
//! decode, verify and derive the identity once per distinct token (caches
//! bounded by entries and bytes), then forget the raw token.
//!
//! Every token gets a verdict; none is ever a bad line. A token that cannot
//! be decoded, or whose header or claims have an odd shape, is `malformed`
//! and named by its keyed fingerprint: its claims are the sender's words.
//! Only a token whose claims are vouched for (a valid signature, or claims a
//! verifying gateway logged) is named by `iss`+`jti`, so a forged copy of a
//! real token's `jti` never shares state with it or names it in a response.

use std::hash::BuildHasherDefault;
use std::sync::Arc;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Both caches are keyed by keyed-PRF output: no need to hash it again.
type KeyHash = BuildHasherDefault<crate::model::PrfHasher>;

use super::claims::is_blank;
use super::{decode_unverified, redact_jwts, IdentityKeys, KeySet, RawClaims, TokenError, TwoGenCache};
use crate::model::{Interner, Origin, TokenId, TokenInfo, TokenKey, Verdict};

#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// Tokens longer than this are not decoded (they are `malformed`).
    pub max_token_bytes: usize,
    /// Entries per cache generation (memory stays under twice this).
    pub cache_capacity: usize,
    /// Bytes per cache generation (attacker-chosen claims can be long).
    pub cache_bytes: usize,
    /// Longer text claims make a token `malformed` (and are cut for display).
    pub max_claim_bytes: usize,
    /// The gateway verified the tokens whose claims it logs: their claims
    /// may widen a response to the subject.
    pub claims_vouched: bool,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            max_token_bytes: 16 * 1024,
            cache_capacity: 65_536,
            cache_bytes: 8 << 20,
            max_claim_bytes: 1024,
            claims_vouched: false,
        }
    }
}

/// Claims longer than this are cut when kept for display.
const SHOWN_CLAIM_BYTES: usize = 256;

/// One per worker thread (caches are not shared, keys are).
pub use super::shared::SharedDecodes;

pub struct TokenResolver {
    shared: Option<Arc<SharedDecodes>>,
    ids: IdentityKeys,
    keys: Option<Arc<KeySet>>,
    /// Where `keys` come from when they can change, and the version held.
    ring: Option<(Arc<super::KeyRing>, u64)>,
    cfg: ResolverConfig,
    raw_cache: TwoGenCache<u128, Arc<TokenInfo>, KeyHash>,
    claims_cache: TwoGenCache<TokenKey, Arc<TokenInfo>, KeyHash>,
    /// Distinct raw tokens decoded (cache misses).
    pub decoded: u64,
    /// Issuers and subjects, shared by the tokens that name them.
    names: Interner<Arc<str>>,
}

impl TokenResolver {
    pub fn new(ids: IdentityKeys, keys: Option<Arc<KeySet>>, cfg: ResolverConfig) -> Self {
        let (cap, bytes) = (cfg.cache_capacity, cfg.cache_bytes);
        TokenResolver {
            shared: None,
            ids,
            keys,
            ring: None,
            cfg,
            raw_cache: TwoGenCache::new(cap).with_max_bytes(bytes),
            claims_cache: TwoGenCache::new(cap).with_max_bytes(bytes),
            decoded: 0,
            names: Interner::new(cap).with_max_bytes(bytes),
        }
    }

    /// One `Arc` per issuer and subject among the tokens decoded: the
    /// engine keys a subject's baseline by the pair, and equal `Arc`s
    /// compare by address (no read of the other token's strings).
    fn share_names(&mut self, info: &mut TokenInfo) {
        for name in [&mut info.iss, &mut info.sub] {
            if let Some(n) = name.as_mut() {
                *n = self.names.get(n, usize::MAX);
            }
        }
    }

    /// Verify against a key ring that may be reloaded (the stream).
    pub fn with_ring(ids: IdentityKeys, ring: Arc<super::KeyRing>, cfg: ResolverConfig) -> Self {
        let (keys, v) = ring.current();
        let mut r = TokenResolver::new(ids, Some(keys), cfg);
        r.ring = Some((ring, v));
        r
    }

    /// Share decodes with the other workers (made with the same identity
    /// keys and verification keys).
    pub fn with_shared(mut self, shared: Arc<SharedDecodes>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Pick up reloaded keys; verdicts cached under the old ones are dropped.
    fn sync_keys(&mut self) {
        let Some((ring, held)) = &self.ring else { return };
        if ring.version() != *held {
            let (keys, v) = ring.current();
            self.keys = Some(keys);
            self.ring = Some((ring.clone(), v));
            self.raw_cache = TwoGenCache::new(self.cfg.cache_capacity).with_max_bytes(self.cfg.cache_bytes);
        }
    }

    /// A raw bearer token (without the `Bearer ` prefix). Never fails: what
    /// cannot be decoded is a `malformed` token named by its fingerprint.
    pub fn from_raw(&mut self, raw: &str) -> Arc<TokenInfo> {
        self.sync_keys();
        let ck = self.ids.cache_key(raw);
        if let Some(r) = self.raw_cache.get(&ck) {
            return r;
        }
        let version = self.ring.as_ref().map_or(0, |(_, v)| *v);
        if let Some(r) = self.shared.as_ref().and_then(|s| s.get(ck, version)) {
            self.raw_cache.insert_weighed(ck, r.clone(), weight(&r));
            return r;
        }
        self.decoded += 1;
        let mut info = self.decode_raw(raw);
        self.share_names(&mut info);
        let info = Arc::new(info);
        let w = weight(&info);
        if let Some(s) = &self.shared {
            s.insert(ck, version, info.clone(), w);
        }
        self.raw_cache.insert_weighed(ck, info.clone(), w);
        info
    }

    fn decode_raw(&self, raw: &str) -> TokenInfo {
        let (key, fp) = self.ids.fingerprint(raw);
        let mut info = TokenInfo::bare(key, TokenId::Fingerprint(fp.into()), Verdict::Malformed, Origin::Raw);
        info.sha256 = Some(sha256_b64(raw).into());
        let jwt = match decode_unverified(raw, self.cfg.max_token_bytes) {
            Ok(j) => j,
            Err(TokenError::Jwe) if is_jwe(raw) => {
                // encrypted: cannot be read or verified, only correlated
                info.verdict = Verdict::NotChecked;
                info.detail = Some("an encrypted token (JWE): named by its fingerprint".into());
                return info;
            }
            Err(e) => {
                info.detail = Some(
                    match e {
                        TokenError::Malformed(why) => why,
                        TokenError::TooLarge { .. } => "token is over the size limit",
                        _ => "five segments, but not a JWE header",
                    }
                    .into(),
                );
                return info;
            }
        };
        info.alg = jwt.header.alg.as_deref().map(|a| shown(a, self.cfg.max_claim_bytes).0);
        info.kid = jwt.header.kid.as_deref().map(|k| shown(k, self.cfg.max_claim_bytes).0);
        let claims = match jwt.claims() {
            Ok(c) => c,
            Err(TokenError::Malformed(why)) => {
                info.detail = Some(why.into());
                return info;
            }
            Err(_) => return info,
        };
        let mut odd = jwt.header.odd.or(claims.odd);
        fill(&mut info, &claims, false, self.cfg.max_claim_bytes, &mut odd);
        let verdict = match &self.keys {
            Some(k) if !k.is_empty() => k.verify(raw, &jwt.header),
            _ if jwt.header.alg.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("none")) => Verdict::AlgNone,
            _ => Verdict::NotChecked,
        };
        info.verdict = match (odd, verdict) {
            // a signature failure says more than an odd shape
            (Some(_), Verdict::Valid | Verdict::NotChecked) => Verdict::Malformed,
            (_, v) => v,
        };
        info.detail = odd
            .or(match info.verdict {
                Verdict::BadSignature => Some("the signature does not verify"),
                Verdict::UnknownKid => Some("no configured key matches the token's kid"),
                Verdict::AlgNone => Some("the token is unsigned"),
                Verdict::AlgNotAllowed => Some("the algorithm is not allowed for its key"),
                Verdict::Malformed => Some("the signature cannot be decoded"),
                _ => None,
            })
            .map(Into::into);
        if info.verdict == Verdict::Valid {
            info.vouched = true;
            if let (Some(jti), iss) = (opt(&claims.jti), opt(&claims.iss).unwrap_or("")) {
                info.key = self.ids.jti_key(iss, jti);
                info.id = TokenId::Jti { iss: shown(iss, usize::MAX).0, jti: shown(jti, usize::MAX).0 };
            }
        }
        info
    }

    /// Claims a gateway logged after verifying the token itself. `None` when
    /// the claims are blank (an unauthenticated request).
    pub fn from_claims(&mut self, claims: &RawClaims<'_>, lenient: bool) -> Option<Arc<TokenInfo>> {
        if claims.is_empty() {
            return None;
        }
        let iss = opt(&claims.iss).unwrap_or("");
        let max = self.cfg.max_claim_bytes;
        let jti = opt(&claims.jti).filter(|j| claims.odd.is_none() && j.len() <= max && iss.len() <= max);
        let mut cache_as = None;
        let (key, id) = match jti {
            // vouched: the identity a revocation can name
            Some(jti) if self.cfg.claims_vouched => {
                let key = self.ids.jti_key(iss, jti);
                if let Some(hit) = self.claims_cache.get(&key) {
                    return Some(hit);
                }
                (key, TokenId::Jti { iss: shown(iss, usize::MAX).0, jti: shown(jti, usize::MAX).0 })
            }
            // claims nobody vouched for are the sender's words: named in a
            // namespace of their own, so a forged copy of a real jti shares
            // no state with the real token and never names it in a request
            Some(jti) => {
                // looked up by a SipHash key over every claim the entry
                // holds (unvouched claims may differ from use to use: the
                // first must not stick to the later ones); the HMAC only
                // for claims not seen yet
                let ck = self.ids.claims_lookup(claims, lenient);
                if let Some(hit) = self.claims_cache.get(&ck) {
                    return Some(hit);
                }
                let (key, h) = self.ids.fingerprint_parts("claims-jti", &[iss, jti]);
                cache_as = Some(ck);
                (key, TokenId::Fingerprint(h.into()))
            }
            None => {
                // No jti (or claims that cannot be trusted to name one): the
                // claims present name the token, through the keyed fingerprint.
                let (k, h) = self.claims_name(claims, iss, lenient);
                (k, TokenId::Fingerprint(h.into()))
            }
        };
        let mut info = TokenInfo::bare(key, id, Verdict::NotChecked, Origin::Claims);
        let mut odd = claims.odd;
        fill(&mut info, claims, lenient, self.cfg.max_claim_bytes, &mut odd);
        self.share_names(&mut info);
        if odd.is_some() {
            info.verdict = Verdict::Malformed;
            info.detail = odd.map(Into::into);
        }
        info.vouched = self.cfg.claims_vouched && odd.is_none();
        let info = Arc::new(info);
        self.claims_cache.insert_weighed(cache_as.unwrap_or(key), info.clone(), weight(&info));
        Some(info)
    }
}

impl TokenResolver {
    /// The keyed fingerprint of claims without a usable jti. The NUL-joined
    /// names every earlier version used, while no part holds a NUL (then
    /// they are unambiguous); else the parts length-prefixed, apart.
    fn claims_name(&self, claims: &RawClaims<'_>, iss: &str, lenient: bool) -> (TokenKey, String) {
        let text = |o: &Option<super::Text<'_>>| opt(o).unwrap_or("").to_string();
        let date = |d: &Option<super::NumericDate<'_>>| format!("{d:?}");
        let iat = claims.iat.as_ref().and_then(|d| d.secs("iat", lenient).ok().flatten());
        let parts: Vec<String> = match (opt(&claims.sub), iat, claims.odd, opt(&claims.jti)) {
            // the (iss, sub, iat) triple, as every earlier version named it
            (Some(sub), Some(iat), None, None) => vec![iss.to_string(), sub.to_string(), iat.to_string()],
            _ => vec![
                text(&claims.iss),
                text(&claims.sub),
                date(&claims.iat),
                text(&claims.jti),
                date(&claims.exp),
                text(&claims.client_id).len().to_string(),
                claims.odd.unwrap_or("").to_string(),
            ],
        };
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        if refs.iter().any(|p| p.contains('\0')) {
            return self.ids.fingerprint_parts("claims-lp", &refs);
        }
        self.ids.fingerprint_name(&format!("claims\0{}", refs.join("\0")))
    }
}

fn opt<'a>(s: &'a Option<super::Text<'_>>) -> Option<&'a str> {
    s.as_deref().filter(|v| !is_blank(v))
}

/// A claim as kept for display: JWT-shaped parts redacted; one over `max`
/// bytes is cut (and reported `true`: the token is then `malformed`).
fn shown(s: &str, max: usize) -> (Arc<str>, bool) {
    let r = redact_jwts(s);
    if s.len() <= max {
        (Arc::from(&*r), false)
    } else {
        (Arc::from(crate::model::truncate(&r, SHOWN_CLAIM_BYTES).as_str()), true)
    }
}

/// Copy the claims rules use into `info`; an oddity found (a claim too long,
/// a date that is not a date) goes to `odd` unless one is there already.
fn fill(info: &mut TokenInfo, c: &RawClaims<'_>, lenient: bool, max: usize, odd: &mut Option<&'static str>) {
    let mut text = |s: &Option<super::Text<'_>>, why: &'static str| {
        let v = opt(s)?;
        let (a, long) = shown(v, max);
        if long {
            odd.get_or_insert(why);
        }
        Some(a)
    };
    info.jti = text(&c.jti, "claim `jti` is too long");
    info.iss = text(&c.iss, "claim `iss` is too long");
    info.sub = text(&c.sub, "claim `sub` is too long");
    info.client_id =
        text(&c.client_id, "claim `client_id` is too long").or_else(|| text(&c.azp, "claim `azp` is too long"));
    let aud = c.aud.as_ref().and_then(|a| a.first()).filter(|a| !is_blank(a)).map(super::Text::from);
    info.aud = text(&aud, "claim `aud` is too long");
    if let Some(k) = text(&c.kid, "claim `kid` is too long") {
        info.kid = Some(k);
    }
    if let Some(a) = text(&c.alg, "claim `alg` is too long") {
        info.alg = Some(a);
    }
    let mut date = |d: &Option<super::NumericDate<'_>>, name: &'static str, why: &'static str| match d {
        Some(d) => d.secs(name, lenient).unwrap_or_else(|_| {
            odd.get_or_insert(why);
            None
        }),
        None => None,
    };
    info.exp = date(&c.exp, "exp", "claim `exp` is not a NumericDate");
    info.iat = date(&c.iat, "iat", "claim `iat` is not a NumericDate");
    info.nbf = date(&c.nbf, "nbf", "claim `nbf` is not a NumericDate");
}

/// Bytes a token's record holds (for the byte-bounded caches).
fn weight(t: &TokenInfo) -> usize {
    let s = |o: &Option<Arc<str>>| o.as_ref().map_or(0, |a| a.len() + 16);
    let id = match &t.id {
        TokenId::Jti { iss, jti } => iss.len() + jti.len() + 32,
        TokenId::Fingerprint(h) => h.len() + 16,
    };
    std::mem::size_of::<TokenInfo>()
        + id
        + s(&t.jti)
        + s(&t.iss)
        + s(&t.sub)
        + s(&t.client_id)
        + s(&t.aud)
        + s(&t.kid)
        + s(&t.alg)
        + s(&t.sha256)
}

/// A five-segment token whose header names an encryption.
fn is_jwe(raw: &str) -> bool {
    let h = raw.split('.').next().unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice::<super::JwtHeader>(&b).ok())
        .is_some_and(|h| h.enc)
}

/// base64url (no padding) SHA-256 of the raw token.
pub fn sha256_b64(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(raw.as_bytes()))
}
