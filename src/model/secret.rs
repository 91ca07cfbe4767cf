//! Secrets as a type: a [`Secret`]'s `Debug` and `Display` print
//! `<redacted>`, so a settings dump, a log line or an error built with
//! `{:?}` cannot leak the identity key, a password, a webhook secret or a URL
//! with credentials; the value is read only through [`Secret::expose`].
//! [`redact_url`] prints a URL without its user-info, query and fragment.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// A string, or a number taken as its text (`TOKENHOUND_TOKEN__IDENTITY_KEY=1234...`
/// reads as a TOML integer); never quoted in an error.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a secret string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for the one place that uses it (a key derivation, a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A URL fit to print: `scheme://host[:port]/path`, without user-info
/// (`user:password@`), query (`?api_key=...`) or fragment.
///
/// ```
/// use tokenhound::model::redact_url;
/// assert_eq!(redact_url("https://u:pw@idp.example:8443/jwks?api_key=s3"), "https://idp.example:8443/jwks?<redacted>");
/// assert_eq!(redact_url("redis://:pw@redis:6379/0"), "redis://redis:6379/0");
/// ```
pub fn redact_url(u: &str) -> String {
    let (scheme, rest) = match u.find("://") {
        Some(i) => (&u[..i + 3], &u[i + 3..]),
        None => ("", u),
    };
    let end_auth = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some(at) = rest.rfind('@').filter(|&at| at > end_auth) {
        // credentials, perhaps with `/`, `?` or `#` in the password: only
        // the host after the last `@` is shown, nothing else
        let host = &rest[at + 1..];
        let host = &host[..host.find(['/', '?', '#']).unwrap_or(host.len())];
        return format!("{scheme}<redacted>@{host}/<redacted>");
    }
    let (auth, tail) = rest.split_at(end_auth);
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let (path, cut) = match tail.find(['?', '#']) {
        Some(i) => (&tail[..i], true),
        None => (tail, false),
    };
    format!("{scheme}{host}{path}{}", if cut { "?<redacted>" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2-identity-key");
        assert_eq!(format!("{s:?} {s} {:?}", Some(&s)), "<redacted> <redacted> Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2-identity-key");
        assert_eq!(redact_url("/etc/jwks.json"), "/etc/jwks.json");
        assert_eq!(redact_url("https://idp.example/a#frag"), "https://idp.example/a?<redacted>");
        // a password with `/`, `#` or `?` in it shows nothing of itself
        for u in ["https://svc:pa/ss@hooks.example/x", "https://svc:pa#ss@hooks.example", "https://u:p?w@h.example/p?q"]
        {
            let r = redact_url(u);
            assert!(!r.contains("pa") && !r.contains("ss@") && !r.contains("p?w") && !r.contains("svc"), "{r}");
            assert!(r.contains("h") && r.ends_with("/<redacted>"), "{r}");
        }
        assert_eq!(redact_url("http://a@b@host/x"), "http://host/x");
    }
}
