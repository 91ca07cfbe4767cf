//! The record every profile parser fills, borrowed from the line, and small
//! serde helpers for the shapes gateways use (header arrays, numbers as
//! strings).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::model::{EventTime, Geo};
use crate::token::RawClaims;

pub use crate::token::Text as Str;

/// One request as a profile parser reads it, before the common finishing.
#[derive(Default, Debug)]
pub struct Parsed<'a> {
    pub time: EventTime,
    /// The gateway's own view of the peer (may be a proxy).
    pub peer: Option<Str<'a>>,
    pub xff: Option<Str<'a>>,
    pub user_agent: Option<Str<'a>>,
    pub method: Option<Str<'a>>,
    pub path: Option<Str<'a>>,
    pub status: u16,
    pub request_id: Option<Str<'a>>,
    pub gateway: Option<Str<'a>>,
    pub bytes: Option<u64>,
    pub claims: Option<RawClaims<'a>>,
    /// The Authorization header value, when the gateway kept it.
    pub authorization: Option<Str<'a>>,
    /// A raw token given on its own (tokenhound profile).
    pub raw_token: Option<Str<'a>>,
    /// Claims logged as strings (AWS, nginx): accept numeric strings.
    pub lenient_claims: bool,
    /// Pre-enriched geo (tokenhound profile only).
    pub geo: Option<Geo>,
    /// A verdict carried by an exported event (tokenhound profile only).
    pub verdict: Option<crate::model::Verdict>,
}

/// A header that may be logged as a string or an array of strings (Kong
/// logs repeated headers as arrays). `JOIN`: all values joined with ", "
/// (X-Forwarded-For); otherwise the first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HeaderOf<'a, const JOIN: bool>(pub Option<Str<'a>>);

pub type Header<'a> = HeaderOf<'a, false>;
pub type HeaderList<'a> = HeaderOf<'a, true>;

impl<'de: 'a, 'a, const JOIN: bool> Deserialize<'de> for HeaderOf<'a, JOIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const J: bool>;
        impl<'de, const J: bool> Visitor<'de> for V<J> {
            type Value = HeaderOf<'de, J>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(HeaderOf(Some(Str(Cow::Borrowed(v)))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(HeaderOf(Some(Str(Cow::Owned(v.to_owned())))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderOf(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all: Option<String> = None;
                while let Some(s) = seq.next_element::<Cow<'de, str>>()? {
                    match &mut all {
                        None => all = Some(s.into_owned()),
                        Some(a) if J => {
                            a.push_str(", ");
                            a.push_str(&s);
                        }
                        Some(_) => {}
                    }
                }
                Ok(HeaderOf(all.map(Str::owned)))
            }
        }
        d.deserialize_any(V::<JOIN>)
    }
}

/// A number that a log may write as a JSON number or a string ("200", "-").
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Num(pub Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(Some(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                let t = v.trim();
                if t.is_empty() || t == "-" {
                    return Ok(Num(None));
                }
                t.parse::<f64>().map(|n| Num(Some(n))).map_err(|_| E::custom("expected a number"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Num {
    pub fn status(self) -> u16 {
        self.0.filter(|n| (0.0..1000.0).contains(n)).map(|n| n as u16).unwrap_or(0)
    }
    pub fn bytes(self) -> Option<u64> {
        self.0.filter(|n| *n >= 0.0 && n.is_finite()).map(|n| n as u64)
    }
}

/// A timestamp: RFC 3339 string, or epoch number (s, ms, us, ns). The same
/// shape as a claim's NumericDate, so the same type.
pub use crate::token::NumericDate as TimeVal;

impl TimeVal<'_> {
    pub fn to_time(&self, profile: &'static str, field: &'static str) -> Result<EventTime, super::IngestError> {
        let r = match self {
            TimeVal::Num(n) => EventTime::from_epoch_number(*n),
            TimeVal::Str(s) => EventTime::parse(s),
        };
        r.map_err(|e| super::IngestError::BadValue { profile, field, value: super::scrub(&e.to_string()) })
    }
}
