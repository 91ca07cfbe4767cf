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
        if !n.is_finite() || n.abs() >= 1e13 {
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

/// Claims, as logged by a gateway or decoded from a JWT payload. Parsing
/// never fails on a claim's shape: a claim of an unexpected type (an object
/// for `jti`, a list for `exp`), or a claim given twice (parsers disagree on
/// which copy wins: a classic way to make two readers see two tokens), is
/// recorded in `odd` and the token's verdict becomes `malformed`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawClaims<'a> {
    pub jti: Option<Text<'a>>,
    pub iss: Option<Text<'a>>,
    pub sub: Option<Text<'a>>,
    pub aud: Option<Aud<'a>>,
    pub azp: Option<Text<'a>>,
    pub client_id: Option<Text<'a>>,
    pub kid: Option<Text<'a>>,
    pub alg: Option<Text<'a>>,
    pub exp: Option<NumericDate<'a>>,
    pub iat: Option<NumericDate<'a>>,
    pub nbf: Option<NumericDate<'a>>,
    /// The first oddity seen (wrong type, duplicate claim).
    pub odd: Option<&'static str>,
}

const NOT_OBJECT: &str = "the claims are not a JSON object";

/// Any JSON value, as far as a claim cares.
enum ClaimVal<'a> {
    Str(Text<'a>),
    Num(f64),
    List(Vec<Text<'a>>),
    Null,
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for ClaimVal<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimVal<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a claim value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ClaimVal::Str(Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ClaimVal::Str(Text(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(ClaimVal::Str(Text(Cow::Owned(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ClaimVal::Num(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ClaimVal::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ClaimVal::Num(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ClaimVal::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ClaimVal::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ClaimVal::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                let mut odd = false;
                while let Some(v) = seq.next_element::<ClaimVal<'de>>()? {
                    match v {
                        ClaimVal::Str(s) if !odd => all.push(s),
                        _ => odd = true,
                    }
                }
                Ok(if odd { ClaimVal::Other } else { ClaimVal::List(all) })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(ClaimVal::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// The claims tokenhound reads, with the messages their oddities give.
const CLAIMS: [(&str, &str, &str); 11] = [
    ("jti", "claim `jti` has an unexpected type", "claim `jti` is given twice"),
    ("iss", "claim `iss` has an unexpected type", "claim `iss` is given twice"),
    ("sub", "claim `sub` has an unexpected type", "claim `sub` is given twice"),
    ("aud", "claim `aud` has an unexpected type", "claim `aud` is given twice"),
    ("azp", "claim `azp` has an unexpected type", "claim `azp` is given twice"),
    ("client_id", "claim `client_id` has an unexpected type", "claim `client_id` is given twice"),
    ("kid", "claim `kid` has an unexpected type", "claim `kid` is given twice"),
    ("alg", "claim `alg` has an unexpected type", "claim `alg` is given twice"),
    ("exp", "claim `exp` has an unexpected type", "claim `exp` is given twice"),
    ("iat", "claim `iat` has an unexpected type", "claim `iat` is given twice"),
    ("nbf", "claim `nbf` has an unexpected type", "claim `nbf` is given twice"),
];

/// A number written as text (a numeric `jti` or `sub`).
fn num_text(n: f64) -> Text<'static> {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Text::owned(format!("{}", n as i64))
    } else {
        Text::owned(format!("{n}"))
    }
}

impl<'a> RawClaims<'a> {
    fn set(&mut self, i: usize, v: ClaimVal<'a>) {
        let (_, bad_type, twice) = CLAIMS[i];
        let taken = match i {
            0 => self.jti.is_some(),
            1 => self.iss.is_some(),
            2 => self.sub.is_some(),
            3 => self.aud.is_some(),
            4 => self.azp.is_some(),
            5 => self.client_id.is_some(),
            6 => self.kid.is_some(),
            7 => self.alg.is_some(),
            8 => self.exp.is_some(),
            9 => self.iat.is_some(),
            _ => self.nbf.is_some(),
        };
        if taken {
            self.odd.get_or_insert(twice);
            return;
        }
        let mut bad = || {
            self.odd.get_or_insert(bad_type);
        };
        match (i, v) {
            (_, ClaimVal::Null) => {}
            (3, ClaimVal::Str(s)) => self.aud = Some(Aud::One(s)),
            (3, ClaimVal::List(l)) => self.aud = Some(Aud::Many(l)),
            (8..=10, ClaimVal::Num(n)) => *self.date_mut(i) = Some(NumericDate::Num(n)),
            (8..=10, ClaimVal::Str(s)) => *self.date_mut(i) = Some(NumericDate::Str(s)),
            (3 | 8..=10, _) => bad(),
            (_, ClaimVal::Str(s)) => *self.text_mut(i) = Some(s),
            (_, ClaimVal::Num(n)) => *self.text_mut(i) = Some(num_text(n)),
            _ => bad(),
        }
    }

    fn text_mut(&mut self, i: usize) -> &mut Option<Text<'a>> {
        match i {
            0 => &mut self.jti,
            1 => &mut self.iss,
            2 => &mut self.sub,
            4 => &mut self.azp,
            5 => &mut self.client_id,
            6 => &mut self.kid,
            _ => &mut self.alg,
        }
    }

    fn date_mut(&mut self, i: usize) -> &mut Option<NumericDate<'a>> {
        match i {
            8 => &mut self.exp,
            9 => &mut self.iat,
            _ => &mut self.nbf,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawClaims<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawClaims<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of claims")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut c = RawClaims::default();
                while let Some(k) = map.next_key::<Text<'de>>()? {
                    match CLAIMS.iter().position(|(name, ..)| *name == &*k) {
                        Some(i) => {
                            let v = map.next_value::<ClaimVal<'de>>()?;
                            c.set(i, v);
                        }
                        None => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(c)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawClaims::default())
            }
            // Not an object: blank text is "no claims" (`-`), anything else odd.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawClaims { odd: (!is_blank(v)).then_some(NOT_OBJECT), ..Default::default() })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RawClaims { odd: Some(NOT_OBJECT), ..Default::default() })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RawClaims { odd: Some(NOT_OBJECT), ..Default::default() })
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RawClaims { odd: Some(NOT_OBJECT), ..Default::default() })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RawClaims { odd: Some(NOT_OBJECT), ..Default::default() })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RawClaims { odd: Some(NOT_OBJECT), ..Default::default() })
            }
        }
        d.deserialize_any(V)
    }
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
        self.odd.is_none()
            && blank(&self.jti)
            && blank(&self.iss)
            && blank(&self.sub)
            && no_date(&self.exp)
            && no_date(&self.iat)
    }
}

/// Logs write absent variables as empty, `-` or `null`.
pub(crate) fn is_blank(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t == "-" || t == "null"
}
