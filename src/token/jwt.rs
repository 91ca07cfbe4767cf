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

/// The JOSE header fields that matter here, read without failing on their
/// shape: an oddity (a non-string `alg`, a duplicate field, a `crit` list
/// naming extensions tokenhound does not implement) is kept in `odd` and
/// makes the token `malformed`, never a bad line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwtHeader {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// Names an encryption: the token is a JWE.
    pub enc: bool,
    pub odd: Option<&'static str>,
}

impl<'de> Deserialize<'de> for JwtHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JwtHeader;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JOSE header object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JwtHeader, A::Error> {
                let mut h = JwtHeader::default();
                let mut seen: Vec<String> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if seen.contains(&k) {
                        h.odd.get_or_insert("a header field is given twice");
                    } else if seen.len() < 64 {
                        seen.push(k.clone());
                    }
                    let v: serde_json::Value = map.next_value()?;
                    let text = |v: serde_json::Value, h: &mut JwtHeader, why: &'static str| match v {
                        serde_json::Value::String(s) => Some(s),
                        serde_json::Value::Null => None,
                        _ => {
                            h.odd.get_or_insert(why);
                            None
                        }
                    };
                    match k.as_str() {
                        "alg" => h.alg = text(v, &mut h, "header `alg` is not a string"),
                        "kid" => h.kid = text(v, &mut h, "header `kid` is not a string"),
                        "typ" => h.typ = text(v, &mut h, "header `typ` is not a string"),
                        "enc" => h.enc = true,
                        // RFC 7515 4.1.11: a recipient that does not understand
                        // every listed extension must reject the token
                        "crit" => {
                            h.odd.get_or_insert("header `crit` names an extension tokenhound does not implement");
                        }
                        "x5c" if !v.is_array() => {
                            h.odd.get_or_insert("header `x5c` is not a list");
                        }
                        _ => {}
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
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

/// The signing input (`header.payload`) and the signature segment.
pub fn split_signature(token: &str) -> Option<(&str, &str)> {
    token.rsplit_once('.')
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
    let (h, p, sig) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if h.is_empty() || p.is_empty() {
        return Err(TokenError::Malformed("empty header or payload segment"));
    }
    let hb = B64.decode(h).map_err(|_| TokenError::Malformed("header is not base64url"))?;
    let mut header: JwtHeader =
        serde_json::from_slice(&hb).map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
    let payload = B64.decode(p).map_err(|_| TokenError::Malformed("payload is not base64url"))?;
    // RFC 7515: base64url without padding, and nothing but its alphabet
    let b64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !b64url(h) || !b64url(p) {
        header.odd.get_or_insert("a segment is padded or holds characters outside base64url");
    }
    if !b64url(sig) {
        header.odd.get_or_insert("the signature is padded or holds characters outside base64url");
    }
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
