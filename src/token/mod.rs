//! Token handling: find the claims (logged claims or a raw bearer JWT), decode,
//! verify against configured keys, derive the identity, and drop the raw token.
//!
//! Flow: ingest hands a [`RawToken`] or [`RawClaims`] to a [`TokenResolver`],
//! which returns a shared [`TokenInfo`]; decode and verification run once per
//! distinct token thanks to a bounded cache.

mod cache;
mod claims;
mod identity;
mod jwt;
mod keyring;
mod keys;
mod redact;
mod resolver;
mod shared;
mod text;

pub use cache::TwoGenCache;
pub use claims::{Aud, NumericDate, RawClaims};
pub use identity::{IdentityKeys, DEFAULT_IDENTITY_KEY};
pub use jwt::{decode_unverified, DecodedJwt, JwtHeader};
pub use keyring::KeyRing;
pub use keys::{KeyError, KeySet, MAX_TRIES};
pub use redact::{redact_jwts, JWT_MARKER};
pub use resolver::{sha256_b64, ResolverConfig, SharedDecodes, TokenResolver};
pub use text::Text;

/// A raw bearer token on its way to being decoded. Never printed.
pub struct RawToken<'a>(pub &'a str);

impl std::fmt::Debug for RawToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawToken(<redacted>)")
    }
}

/// Why a token could not be decoded (the resolver turns each into a
/// `malformed` verdict). Messages never quote the token.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TokenError {
    #[error("token is a JWE (5 segments): encrypted tokens cannot be identified")]
    Jwe,
    #[error("token is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    #[error("claim `{claim}` is invalid: {why}")]
    BadClaim { claim: &'static str, why: String },
}
