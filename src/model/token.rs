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
    /// The printable id: `iss|jti`, or `fp:<hex>`.
    pub fn display_id(&self) -> String {
        match self {
            TokenId::Jti { iss, jti } => format!("{iss}|{jti}"),
            TokenId::Fingerprint(h) => format!("fp:{h}"),
        }
    }
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

/// What tokenhound keeps of a token: identity and the claims rules use.
/// Shared (`Arc`) between all the events of one token.
#[derive(Clone, PartialEq)]
pub struct TokenInfo {
    pub key: TokenKey,
    pub id: TokenId,
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
}

impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("id", &self.id)
            .field("iss", &self.iss)
            .field("exp", &self.exp)
            .field("verdict", &self.verdict)
            .finish_non_exhaustive()
    }
}
