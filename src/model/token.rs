//! Token identity as the rest of tokenhound sees it: never the raw token, only
//! its claims, a keyed 128-bit state key, and the signature verdict.

use std::fmt;
use std::sync::Arc;

/// 128-bit keyed hash of the token identity: the key of per-token state.
/// Keyed with a per-deployment secret, so an attacker cannot choose colliding
/// keys; this is why state maps may use a non-randomized hasher on it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenKey(pub [u8; 16]);

impl std::hash::Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.lo64());
    }
}

impl TokenKey {
    /// A well-mixed 64-bit value from the key (for sharding and hashing).
    pub fn lo64(&self) -> u64 {
        u64::from_le_bytes(self.0[..8].try_into().expect("16 bytes"))
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey({:08x}..)", self.lo64() as u32)
    }
}

/// Hasher for [`TokenKey`]s and other keyed-PRF outputs: they are already
/// uniformly random, so their first 8 bytes are the hash.
#[derive(Default)]
pub struct PrfHasher(u64);

impl std::hash::Hasher for PrfHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// How a token is named in alerts and revocation requests.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenId {
    /// `iss` + `jti`: the identity a revocation can name.
    Jti { iss: Arc<str>, jti: Arc<str> },
    /// No `jti`: a keyed HMAC-SHA256 fingerprint of the token (hex), for
    /// correlation only.
    Fingerprint(Arc<str>),
}

impl TokenId {
    /// The printable id: `iss|jti`, or `fp:<hex>`. Unambiguous: a `|`, `%`
    /// or control character inside a part is percent-encoded, so no two
    /// identities print alike (`a|b` + `c` is not `a` + `b|c`).
    pub fn display_id(&self) -> String {
        let mut s = String::new();
        self.write_display_id(&mut s);
        s
    }

    /// [`TokenId::display_id`] into a buffer (no allocation of its own).
    pub fn write_display_id(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match self {
            TokenId::Jti { iss, jti } => write!(out, "{}|{}", escape_part(iss), escape_part(jti)),
            TokenId::Fingerprint(h) => write!(out, "fp:{h}"),
        };
    }
}

/// One part of a composite key (Redis deny-list keys, the requests topic's
/// record keys): every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) percent-encoded, so a part never holds a separator
/// (`:` or `|`) and no two identities give the same key.
///
/// ```
/// use tokenhound::model::key_part;
/// assert_eq!(key_part("https://idp.acme.example"), "https%3A%2F%2Fidp.acme.example");
/// assert_eq!(key_part("svc-backup"), "svc-backup");
/// ```
pub fn key_part(s: &str) -> std::borrow::Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if s.bytes().all(keep) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if keep(b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(o)
}

/// Percent-encode `%`, `|` and control characters (the rest stays readable).
pub fn escape_part(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'|' || b.is_ascii_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '%' || c == '|' || c.is_ascii_control() {
            o.push_str(&format!("%{:02X}", c as u32));
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenId::Jti { iss, .. } => {
                write!(f, "TokenId::Jti {{ iss: {iss:?}, jti: <redacted> }}")
            }
            TokenId::Fingerprint(_) => f.write_str("TokenId::Fingerprint(<redacted>)"),
        }
    }
}

/// Outcome of signature verification, carried on every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// No keys configured, or only claims were logged (the gateway verified).
    NotChecked,
    Valid,
    BadSignature,
    UnknownKid,
    AlgNone,
    AlgNotAllowed,
    Malformed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NotChecked => "not_checked",
            Verdict::Valid => "valid",
            Verdict::BadSignature => "bad_signature",
            Verdict::UnknownKid => "unknown_kid",
            Verdict::AlgNone => "alg_none",
            Verdict::AlgNotAllowed => "alg_not_allowed",
            Verdict::Malformed => "malformed",
        }
    }
    pub fn parse(s: &str) -> Option<Verdict> {
        Some(match s {
            "not_checked" => Verdict::NotChecked,
            "valid" => Verdict::Valid,
            "bad_signature" => Verdict::BadSignature,
            "unknown_kid" => Verdict::UnknownKid,
            "alg_none" => Verdict::AlgNone,
            "alg_not_allowed" => Verdict::AlgNotAllowed,
            "malformed" => Verdict::Malformed,
            _ => return None,
        })
    }
    /// True for the verdicts that mean the token is not what the issuer signed.
    pub fn is_forged(self) -> bool {
        !matches!(self, Verdict::NotChecked | Verdict::Valid)
    }
}

/// Where a token's identity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Decoded from a raw bearer token (tokenhound verifies it when it has keys).
    Raw,
    /// Claims the gateway logged.
    Claims,
}

/// What tokenhound keeps of a token: identity and the claims rules use.
/// Shared (`Arc`) between all the events of one token.
#[derive(Clone, PartialEq)]
pub struct TokenInfo {
    pub key: TokenKey,
    pub id: TokenId,
    /// The `jti` claim (also when the token is named by its fingerprint).
    pub jti: Option<Arc<str>>,
    pub iss: Option<Arc<str>>,
    pub sub: Option<Arc<str>>,
    pub client_id: Option<Arc<str>>,
    pub aud: Option<Arc<str>>,
    pub kid: Option<Arc<str>>,
    pub alg: Option<Arc<str>>,
    /// Claims as epoch seconds.
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub verdict: Verdict,
    /// Why the verdict is what it is, when it is a failure (for the alert).
    pub detail: Option<Arc<str>>,
    pub origin: Origin,
    /// The claims are vouched for: a valid signature, or claims logged by a
    /// gateway the settings mark as verifying. Only vouched claims may widen
    /// a response beyond this one token (a subject, a risk level).
    pub vouched: bool,
    /// base64url SHA-256 of the raw token: the fingerprint a gateway can
    /// compute itself, for a deny-list entry of this one token.
    pub sha256: Option<Arc<str>>,
}

impl TokenInfo {
    /// A bare token (tests, imports): no claims, not vouched.
    pub fn bare(key: TokenKey, id: TokenId, verdict: Verdict, origin: Origin) -> TokenInfo {
        TokenInfo {
            key,
            id,
            jti: None,
            iss: None,
            sub: None,
            client_id: None,
            aud: None,
            kid: None,
            alg: None,
            exp: None,
            iat: None,
            nbf: None,
            verdict,
            detail: None,
            origin,
            vouched: false,
            sha256: None,
        }
    }

    /// The claims' word counts: vouched for (a valid signature, or a
    /// verifying gateway) and not since found forged.
    pub fn trusted(&self) -> bool {
        self.vouched && !self.verdict.is_forged()
    }

    /// The subject, when its word counts: only a vouched token's. An
    /// unverified raw token (`not_checked`) or unvouched claims are the
    /// sender's words, never an alert's actor.
    pub fn trusted_sub(&self) -> Option<&str> {
        self.sub.as_deref().filter(|_| self.trusted())
    }

    /// Where the token's events are judged (a replay shard, an events-topic
    /// partition): by its vouched subject, so one engine holds a subject's
    /// baseline and risk; by its own key otherwise. A key names either a
    /// trusted token or an untrusted one, never both (separate namespaces),
    /// so a token's events never split between two engines.
    pub fn route(&self) -> u64 {
        match self.trusted_sub() {
            Some(sub) => subject_route(self.iss.as_deref().unwrap_or(""), sub),
            None => self.key.lo64(),
        }
    }
}

/// The route of a vouched subject's tokens ([`TokenInfo::route`]).
pub fn subject_route(iss: &str, sub: &str) -> u64 {
    let h = fnv1a(&[iss.as_bytes(), sub.as_bytes()], 0xff);
    h ^ (h >> 29)
}

/// FNV-1a 64 of `parts` joined by `sep`: the same in every process and
/// build (routes, client keys in snapshots, generated ids). Not keyed: only
/// for values an attacker does not choose, or where a collision costs nothing.
pub fn fnv1a(parts: &[&[u8]], sep: u8) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        let lead = (i > 0).then_some(sep);
        for b in lead.into_iter().chain(p.iter().copied()) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("id", &self.id)
            .field("iss", &self.iss)
            .field("exp", &self.exp)
            .field("verdict", &self.verdict)
            .field("vouched", &self.vouched)
            .finish_non_exhaustive()
    }
}
