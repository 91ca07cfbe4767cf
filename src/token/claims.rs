//! The claims tokenhound reads, as they appear in a JWT payload or in a log
//! line's claims object. Borrowed from the input where possible.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Text, TokenError};

/// `exp` / `iat` / `nbf`: a number, or (in logs only) a numeric string.
#[derive(Debug, Clone, PartialEq)]
pub enum NumericDate<'a> {
    Num(f64),
    Str(Text<'a>),
}

impl<'de: 'a, 'a> Deserialize<'de> for NumericDate<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumericDate<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a numeric or RFC 3339 string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumericDate::Num(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumericDate::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(NumericDate::Num(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(NumericDate::Str(Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(NumericDate::Str(Text(Cow::Owned(v.to_owned()))))
            }
        }
        d.deserialize_any(V)
    }
}

impl NumericDate<'_> {
    /// Epoch seconds. `lenient` accepts numeric strings (AWS and nginx log
    /// every variable as a string); a JWT payload must hold a JSON number
    /// (RFC 7519 NumericDate), so a string there is an error, never a pass.
    pub fn secs(&self, claim: &'static str, lenient: bool) -> Result<Option<i64>, TokenError> {
        let n = match self {
            NumericDate::Num(n) => *n,
            NumericDate::Str(s) if lenient => {
                let t = s.trim();
                if t.is_empty() || t == "-" {
                    return Ok(None);
                }
                t.parse::<f64>().map_err(|_| TokenError::BadClaim {
                    claim,
                    why: format!("{:?} is not a number", crate::model::truncate(t, 40)),
                })?
            }
            NumericDate::Str(_) => {
                return Err(TokenError::BadClaim { claim, why: "a string where RFC 7519 requires a number".into() })
            }
        };
        if !n.is_finite() || n.abs() > 1e13 {
            return Err(TokenError::BadClaim { claim, why: format!("{n} is out of range") });
        }
        Ok(Some(n.floor() as i64))
    }
}

/// `aud`: one string or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Aud<'a> {
    One(Text<'a>),
    Many(Vec<Text<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Aud<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Aud<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Aud::One(Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Aud::One(Text(Cow::Owned(v.to_owned()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<Text<'de>>()? {
                    all.push(s);
                }
                Ok(Aud::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}

impl Aud<'_> {
    pub fn first(&self) -> Option<&str> {
        match self {
            Aud::One(s) => Some(s),
            Aud::Many(v) => v.first().map(|s| s.as_ref()),
        }
    }
}

/// Claims, as logged by a gateway or decoded from a JWT payload.
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
pub struct RawClaims<'a> {
    #[serde(borrow, default)]
    pub jti: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub iss: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub sub: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub aud: Option<Aud<'a>>,
    #[serde(borrow, default)]
    pub azp: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub client_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub kid: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub alg: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub exp: Option<NumericDate<'a>>,
    #[serde(borrow, default)]
    pub iat: Option<NumericDate<'a>>,
    #[serde(borrow, default)]
    pub nbf: Option<NumericDate<'a>>,
}

impl RawClaims<'_> {
    /// True when nothing useful was logged (all fields absent or `-`).
    pub fn is_empty(&self) -> bool {
        let blank = |o: &Option<Text<'_>>| o.as_deref().map(is_blank).unwrap_or(true);
        let no_date = |d: &Option<NumericDate<'_>>| match d {
            None => true,
            Some(NumericDate::Str(s)) => is_blank(s),
            Some(NumericDate::Num(_)) => false,
        };
        blank(&self.jti) && blank(&self.iss) && blank(&self.sub) && no_date(&self.exp) && no_date(&self.iat)
    }
}

/// Logs write absent variables as empty, `-` or `null`.
pub(crate) fn is_blank(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t == "-" || t == "null"
}
