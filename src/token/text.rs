//! A string borrowed from the input line when it can be (no escapes), owned
//! when it must be. serde's own `Option<Cow<str>>` always allocates, even
//! with `#[serde(borrow)]`; this type borrows inside an `Option` too.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn owned(s: String) -> Text<'static> {
        Text(Cow::Owned(s))
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, o: &str) -> bool {
        &*self.0 == o
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, o: &&str) -> bool {
        &*self.0 == *o
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct S<'a> {
        #[serde(borrow)]
        a: Option<Text<'a>>,
        #[serde(borrow)]
        b: Option<Text<'a>>,
    }

    #[test]
    fn borrows_inside_option_unless_escaped() {
        let j = br#"{"a":"plain","b":"esc\"aped"}"#;
        for s in [serde_json::from_slice::<S>(j).unwrap(), sonic_rs::from_slice::<S>(j).unwrap()] {
            assert!(matches!(s.a.as_ref().unwrap().0, Cow::Borrowed("plain")));
            assert_eq!(s.b.as_deref(), Some("esc\"aped"));
        }
    }
}
