//! Helpers every profile shares: client IP through trusted proxies, bearer
//! extraction, error scrubbing (no token ever reaches a message), interning.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::IngestError;
pub use crate::model::{cut, Interner};

/// Parse `1.2.3.4`, `1.2.3.4:80`, `[::1]:80` or `::1`; an IPv4-mapped
/// IPv6 address (`::ffff:1.2.3.4`, how dual-stack listeners log IPv4 peers)
/// is the IPv4 address it maps, for GeoIP and the trusted-proxy list.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let t = s.trim();
    let ip = t.parse::<IpAddr>().ok().or_else(|| t.parse::<SocketAddr>().ok().map(|a| a.ip()))?;
    Some(ip.to_canonical())
}

/// The client address: the gateway's peer, unless the peer is a trusted
/// proxy, in which case X-Forwarded-For is walked right to left and the first
/// address that is not a trusted proxy wins.
pub fn client_ip(peer: Option<&str>, xff: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.and_then(parse_ip);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let (Some(p), Some(xff)) = (peer, xff) else {
        return peer;
    };
    if !is_trusted(&p) {
        return Some(p);
    }
    let mut best = p;
    for hop in xff.rsplit(',') {
        match parse_ip(hop) {
            Some(ip) if is_trusted(&ip) => best = ip,
            Some(ip) => return Some(ip),
            None => break,
        }
    }
    Some(best)
}

/// The token of an `Authorization: Bearer <token>` value; `None` for other
/// schemes and for values gateways redact.
pub fn bearer(auth: &str) -> Option<&str> {
    let t = auth.trim();
    // RFC 9110: the scheme ends at whitespace (a tab as well as a space)
    let (scheme, rest) = t.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let tok = rest.trim();
    if tok.is_empty() || tok.eq_ignore_ascii_case("redacted") || tok.chars().all(|c| c == '*') {
        return None;
    }
    Some(tok)
}

/// Replace anything shaped like a JWT (`xxx.yyy.zzz` of base64url, 16+ chars)
/// in a message with `<token redacted>`.
pub fn scrub(msg: &str) -> String {
    // words are ASCII and the marker is ASCII: UTF-8 in, UTF-8 out
    String::from_utf8(scrub_bytes(msg.as_bytes()))
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`scrub`] over bytes that need not be text (a record refused for its
/// bytes, a binary pack): every byte outside a JWT-shaped word is kept as
/// it is, so a dead letter loses only the tokens.
pub fn scrub_bytes(msg: &[u8]) -> Vec<u8> {
    scrub_words(msg, false)
}

/// [`scrub_bytes`] for framed binary records (tokenhound's events topic):
/// each redacted word keeps its length, `<token redacted>` then `*`s, so the
/// length prefixes around it still add up and the record still reads.
pub fn scrub_framed(msg: &[u8]) -> Vec<u8> {
    scrub_words(msg, true)
}

const REDACTED: &[u8] = b"<token redacted>";

fn scrub_words(msg: &[u8], keep_len: bool) -> Vec<u8> {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' || c == b'=';
    let mut out = Vec::with_capacity(msg.len());
    let flush = |word: &[u8], out: &mut Vec<u8>| {
        // leading dots are kept, and the rest judged: a token after a byte
        // that reads as a dot (a length prefix of 46) is still a token
        let lead = word.iter().take_while(|&&c| c == b'.').count();
        let (dots_before, word) = word.split_at(lead);
        out.extend_from_slice(dots_before);
        let dots = word.iter().filter(|&&c| c == b'.').count();
        // (a word of 16 or more bytes: the marker is 16)
        if word.len() >= 16 && dots >= 2 {
            out.extend_from_slice(REDACTED);
            if keep_len {
                out.resize(out.len() + word.len() - REDACTED.len(), b'*');
            }
        } else {
            out.extend_from_slice(word);
        }
    };
    let mut start = 0;
    for (i, &c) in msg.iter().enumerate() {
        if !is_b64(c) {
            flush(&msg[start..i], &mut out);
            out.push(c);
            start = i + 1;
        }
    }
    flush(&msg[start..], &mut out);
    out
}

/// A request path as it leaves ingest: without its query string or fragment
/// (`?access_token=...` and friends), JWT-shaped segments redacted.
pub fn clean_path(p: &str) -> std::borrow::Cow<'_, str> {
    let p = match p.find(['?', '#']) {
        Some(i) => &p[..i],
        None => p,
    };
    crate::token::redact_jwts(p)
}

/// Parse a line with sonic-rs (SIMD); on failure, parse it again with
/// serde_json for the error: its messages can be scrubbed of values, while
/// sonic-rs quotes the input around the fault.
pub fn from_json<'a, T: serde::Deserialize<'a>>(line: &'a [u8], profile: &'static str) -> Result<T, IngestError> {
    match sonic_rs::from_slice(line) {
        Ok(v) => Ok(v),
        Err(_) => match serde_json::from_slice::<T>(line) {
            Err(e) => Err(json_err(profile, e)),
            Ok(v) => Ok(v),
        },
    }
}

/// A serde_json error without the values it may quote.
pub fn json_err(profile: &'static str, e: serde_json::Error) -> IngestError {
    let msg = e.to_string();
    // serde_json quotes offending strings: `invalid type: string "..."`.
    let why = match msg.find('"') {
        Some(i) if e.is_data() => format!("{}<value> (column {})", &msg[..i], e.column()),
        _ => scrub(&msg),
    };
    IngestError::Json { profile, why }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xff_only_through_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // untrusted peer: XFF ignored (spoofable)
        assert_eq!(client_ip(Some("8.8.8.8"), Some("1.1.1.1"), &trusted), ip("8.8.8.8"));
        // trusted peer: rightmost untrusted hop
        assert_eq!(client_ip(Some("10.0.0.5:443"), Some("6.6.6.6, 1.1.1.1, 10.1.1.1"), &trusted), ip("1.1.1.1"));
        // all trusted: leftmost trusted seen
        assert_eq!(client_ip(Some("10.0.0.5"), Some("10.9.9.9"), &trusted), ip("10.9.9.9"));
        // garbage hop stops the walk
        assert_eq!(client_ip(Some("10.0.0.5"), Some("1.1.1.1, junk"), &trusted), ip("10.0.0.5"));
        assert_eq!(client_ip(Some("[2001:db8::1]:80"), None, &[]), ip("2001:db8::1"));
        // IPv4-mapped IPv6: the IPv4 address, trusted as such
        assert_eq!(client_ip(Some("[::ffff:10.0.0.5]:443"), Some("1.1.1.1"), &trusted), ip("1.1.1.1"));
        assert_eq!(client_ip(Some("::ffff:198.18.1.23"), None, &[]), ip("198.18.1.23"));
    }

    #[test]
    fn bearer_and_scrub() {
        assert_eq!(bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer("bearer  x"), Some("x"));
        assert_eq!(bearer("Bearer\tabc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer("Bearer REDACTED"), None);
        assert_eq!(bearer("Basic dXNlcg=="), None);
        let m = scrub("bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln here");
        assert_eq!(m, "bad token <token redacted> here");
        assert_eq!(scrub("1.2.3.4 ok"), "1.2.3.4 ok");
        let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        assert_eq!(clean_path(&format!("/a/{t}/b?access_token={t}#x")), "/a/<jwt-redacted>/b");
        assert_eq!(clean_path("/api/me?x=1"), "/api/me");
    }

    #[test]
    fn scrub_bytes_keeps_every_byte_but_the_tokens() {
        let t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        // bytes that are not UTF-8 stay as they came (a lossy read made them U+FFFD)
        let rec = [b"{\"ua\": \"\xff\xfe\", \"a\": \"Bearer ".as_slice(), t.as_bytes(), b"\x80\"}"].concat();
        let want = [b"{\"ua\": \"\xff\xfe\", \"a\": \"Bearer ".as_slice(), b"<token redacted>", b"\x80\"}"].concat();
        assert_eq!(scrub_bytes(&rec), want);
        // a binary pack: varints and a 16-byte key around a token-shaped run
        let pack = [&[3u8, 0x89, 0x01, 0xff, 0x00][..], t.as_bytes(), &[0xc3, 0x28, 0x2e]].concat();
        assert_eq!(
            scrub_bytes(&pack),
            [&[3u8, 0x89, 0x01, 0xff, 0x00][..], b"<token redacted>", &[0xc3, 0x28, 0x2e]].concat()
        );
        assert_eq!(scrub_bytes(b""), b"");
        let stars = "*".repeat(t.len() - 16);
        assert_eq!(
            scrub_bytes(b"..aaaaaaaaaaaaaaaa.b.c"),
            b"..<token redacted>",
            "leading dots are kept, not the token"
        );
        assert_eq!(scrub_bytes(b"...aaaaaaaa.b.c"), b"...aaaaaaaa.b.c", "too short without its dots");
        // a string after a length prefix that reads as a dot (46)
        let prefixed = [&[0x2e][..], t.as_bytes()].concat();
        assert_eq!(scrub_framed(&prefixed), [&b"."[..], b"<token redacted>", stars.as_bytes()].concat());
        // framed: the same words, each of its own length
        let framed =
            [&[3u8, 0x89, 0x01, 0xff, 0x00][..], b"<token redacted>", stars.as_bytes(), &[0xc3, 0x28, 0x2e]].concat();
        assert_eq!(scrub_framed(&pack), framed);
        assert_eq!(scrub_framed(b"login.example.com!"), b"<token redacted>*!", "17 bytes stay 17");
        assert_eq!(scrub_framed(b"a.b.c"), b"a.b.c");
    }

    /// `scrub` as it was written over chars (the oracle of the bytes one).
    fn scrub_chars(msg: &str) -> String {
        let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '=';
        let (mut out, mut word) = (String::new(), String::new());
        let flush = |word: &mut String, out: &mut String| {
            let w = word.trim_start_matches('.');
            out.push_str(&word[..word.len() - w.len()]);
            if w.len() >= 16 && w.matches('.').count() >= 2 {
                out.push_str("<token redacted>");
            } else {
                out.push_str(w);
            }
            word.clear();
        };
        for c in msg.chars() {
            if is_b64(c) {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    proptest::proptest! {
        /// On text, the bytes version redacts what the char version did and
        /// keeps the rest; on any bytes, what it keeps reads as the lossy
        /// text's scrub.
        #[test]
        fn scrub_bytes_is_the_text_scrub(s in "([a-zA-Z0-9_=.-]{0,30}[ \"é\u{1F600}/:]?){0,8}", junk in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            proptest::prop_assert_eq!(scrub_bytes(s.as_bytes()), scrub_chars(&s).into_bytes());
            proptest::prop_assert_eq!(scrub(&s), scrub_chars(&s));
            // framed: of the same length, the same where not masked
            let framed = scrub_framed(s.as_bytes());
            proptest::prop_assert_eq!(framed.len(), s.len());
            proptest::prop_assert_eq!(framed.is_ascii(), s.is_ascii());
            // junk between the words, not only after them
            let mut b = Vec::new();
            for (i, w) in s.as_bytes().chunks(7).enumerate() {
                b.extend_from_slice(w);
                b.extend(junk.get(i % junk.len().max(1)).copied());
            }
            b.extend_from_slice(&junk);
            let kept = scrub_bytes(&b);
            proptest::prop_assert_eq!(String::from_utf8_lossy(&kept), scrub_chars(&String::from_utf8_lossy(&b)));
            // framed over bytes: the same length, no JWT-shaped word left,
            // and a byte changed only where a word's byte became the mask
            let framed = scrub_framed(&b);
            proptest::prop_assert_eq!(framed.len(), b.len());
            proptest::prop_assert_eq!(&scrub_bytes(&framed), &framed);
            for (x, y) in b.iter().zip(&framed) {
                let word = x.is_ascii_alphanumeric() || b"-_.=".contains(x);
                proptest::prop_assert!(x == y || (word && b"<token redacted>*".contains(y)), "{x} became {y}");
            }
        }
    }
}
