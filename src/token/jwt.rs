//! Decode a compact JWS (header and payload) without verifying it. Sizes are
//! capped before any decoding; JWE is refused; nothing here prints the token.

use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine;
use serde::Deserialize;

use super::{RawClaims, TokenError};

const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The JOSE header fields that matter here.
#[derive(Deserialize, Debug, Clone, Default, PartialEq)]
pub struct JwtHeader {
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
}

/// Header and the decoded payload bytes (claims are borrowed from them).
pub struct DecodedJwt {
    pub header: JwtHeader,
    pub payload: Vec<u8>,
}

impl DecodedJwt {
    pub fn claims(&self) -> Result<RawClaims<'_>, TokenError> {
        serde_json::from_slice(&self.payload)
            .map_err(|_| TokenError::Malformed("payload is not a JSON object of claims"))
    }
}

/// Split and decode `header.payload.signature`.
pub fn decode_unverified(token: &str, max_len: usize) -> Result<DecodedJwt, TokenError> {
    if token.len() > max_len {
        return Err(TokenError::TooLarge { len: token.len(), max: max_len });
    }
    let dots = token.bytes().filter(|&b| b == b'.').count();
    match dots {
        2 => {}
        4 => return Err(TokenError::Jwe),
        _ => return Err(TokenError::Malformed("not three dot-separated segments")),
    }
    let mut parts = token.splitn(3, '.');
    let (h, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if h.is_empty() || p.is_empty() {
        return Err(TokenError::Malformed("empty header or payload segment"));
    }
    let hb = B64.decode(h).map_err(|_| TokenError::Malformed("header is not base64url"))?;
    let header: JwtHeader =
        serde_json::from_slice(&hb).map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
    let payload = B64.decode(p).map_err(|_| TokenError::Malformed("payload is not base64url"))?;
    Ok(DecodedJwt { header, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str) -> String {
        B64.encode(s)
    }

    #[test]
    fn decodes_header_and_claims() {
        let t = format!("{}.{}.sig", seg(r#"{"alg":"RS256","kid":"k1"}"#), seg(r#"{"jti":"a","exp":5}"#));
        let d = decode_unverified(&t, 1000).unwrap();
        assert_eq!(d.header.alg.as_deref(), Some("RS256"));
        assert_eq!(d.header.kid.as_deref(), Some("k1"));
        assert_eq!(d.claims().unwrap().jti.as_deref(), Some("a"));
    }

    #[test]
    fn refuses_jwe_oversize_and_garbage() {
        assert_eq!(decode_unverified("a.b.c.d.e", 100).err(), Some(TokenError::Jwe));
        assert!(matches!(decode_unverified(&"a".repeat(200), 100), Err(TokenError::TooLarge { .. })));
        assert!(matches!(decode_unverified("a.b", 100), Err(TokenError::Malformed(_))));
        assert!(matches!(decode_unverified("!!.??.x", 100), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn error_text_never_contains_token() {
        let t = format!("{}.{}.sig", seg("not json"), seg("{}"));
        let e = decode_unverified(&t, 1000).err().unwrap().to_string();
        assert!(!e.contains(&t[..10]));
    }
}
