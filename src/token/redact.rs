//! Anything shaped like a JWT, wherever it hides in a text field (a path
//! segment, a user agent, a request id, a header a gateway kept), is replaced
//! by a fixed marker before the field leaves ingest. A JWS is three
//! dot-separated base64url segments whose first decodes to a JSON object
//! (`{"...`); a JWE has five. Cheap on the common case: a field with fewer
//! than two dots, or whose dots sit between short runs (`Mozilla/5.0`,
//! `198.18.1.10`, `api.acme.example`), is returned as it is, unallocated.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// What a redacted token is replaced with.
pub const JWT_MARKER: &str = "<jwt-redacted>";

/// Shortest header segment taken for a token (`{"alg":"none"}` is 19 chars).
const MIN_HEADER: usize = 8;

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_word(b: u8) -> bool {
    is_b64(b) || b == b'.' || b == b'='
}

/// True when `seg` starts like the base64url of a JSON object: optional
/// whitespace, `{`, optional whitespace, then `"` or `}`.
fn looks_like_header(seg: &[u8]) -> bool {
    if seg.len() < MIN_HEADER || !seg[..MIN_HEADER].iter().all(|&b| is_b64(b)) {
        return false;
    }
    let Ok(head) = URL_SAFE_NO_PAD.decode(&seg[..MIN_HEADER]) else {
        return false;
    };
    let mut it = head.iter().copied().filter(|b| !b.is_ascii_whitespace());
    it.next() == Some(b'{') && it.next().is_none_or(|b| b == b'"' || b == b'}')
}

/// Where a header starts inside a segment: at its start, after a `=`
/// (`token=eyJ...`), or at an `e` (base64 of `{` at a byte boundary).
fn header_start(seg: &[u8]) -> Option<usize> {
    if looks_like_header(seg) {
        return Some(0);
    }
    (1..seg.len()).find(|&p| (seg[p] == b'e' || seg[p - 1] == b'=') && looks_like_header(&seg[p..]))
}

/// True when the decoded header names an encryption (`enc`): a JWE.
fn is_jwe_header(seg: &[u8]) -> bool {
    let end = seg.iter().position(|&b| !is_b64(b)).unwrap_or(seg.len()).min(4096);
    URL_SAFE_NO_PAD.decode(&seg[..end - end % 4]).is_ok_and(|h| memchr::memmem::find(&h, b"\"enc\"").is_some())
}

/// Byte ranges of the tokens inside one word (a run of base64url, `.`, `=`).
fn tokens_in_word(word: &[u8], base: usize, out: &mut Vec<(usize, usize)>) {
    let mut segs: Vec<(usize, usize)> = Vec::new();
    let mut s = 0;
    for (i, &b) in word.iter().enumerate() {
        if b == b'.' {
            segs.push((s, i));
            s = i + 1;
        }
    }
    segs.push((s, word.len()));
    let mut j = 0;
    while j + 2 < segs.len() {
        let (a, b) = segs[j];
        let Some(p) = header_start(&word[a..b]) else {
            j += 1;
            continue;
        };
        let last = if j + 4 < segs.len() && is_jwe_header(&word[a + p..b]) { j + 4 } else { j + 2 };
        // a payload of at least two characters (a signature may be empty: alg none)
        if segs[j + 1].1 - segs[j + 1].0 < 2 {
            j += 1;
            continue;
        }
        let mut end = segs[last].1;
        // padding a client may have left on the signature
        while end < word.len() && word[end] == b'=' {
            end += 1;
        }
        out.push((base + a + p, base + end));
        j = last + 1;
    }
}

/// `s` with every JWT-shaped substring replaced by [`JWT_MARKER`].
///
/// ```
/// use tokenhound::token::redact_jwts;
/// let t = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.";
/// assert_eq!(redact_jwts(&format!("/files/{t}/x")), "/files/<jwt-redacted>/x");
/// assert_eq!(redact_jwts("Mozilla/5.0 (X11) api.acme.example 198.18.1.10"), "Mozilla/5.0 (X11) api.acme.example 198.18.1.10");
/// ```
pub fn redact_jwts(s: &str) -> Cow<'_, str> {
    // too short for a header and two dots (a method, most names): nothing
    // the scan below would find (test `short_text_holds_no_token`)
    if s.len() <= MIN_HEADER + 2 {
        return Cow::Borrowed(s);
    }
    scan(s)
}

fn scan(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    while let Some(d) = memchr::memchr(b'.', &b[from..]).map(|d| from + d) {
        let mut start = d;
        while start > from && is_word(b[start - 1]) {
            start -= 1;
        }
        let mut end = d + 1;
        while end < b.len() && is_word(b[end]) {
            end += 1;
        }
        // a token needs two dots and a header of MIN_HEADER characters
        let dots = memchr::memchr_iter(b'.', &b[start..end]).count();
        if dots >= 2 && end - start > MIN_HEADER + 2 {
            tokens_in_word(&b[start..end], start, &mut found);
        }
        from = end;
    }
    if found.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (a, e) in found {
        // ranges lie on ASCII bytes, so on char boundaries
        out.push_str(&s[at..a]);
        out.push_str(JWT_MARKER);
        at = e;
    }
    out.push_str(&s[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn jwt() -> String {
        format!("{}.{}.c2lnbmF0dXJl", b64(r#"{"alg":"RS256","kid":"k"}"#), b64(r#"{"sub":"alice","jti":"1"}"#))
    }

    #[test]
    fn finds_tokens_wherever_they_hide() {
        let t = jwt();
        for (input, want) in [
            (format!("/download/{t}"), "/download/<jwt-redacted>".to_string()),
            (format!("curl/8 token={t}; x"), "curl/8 token=<jwt-redacted>; x".into()),
            (format!("{t}=="), "<jwt-redacted>".into()),
            (format!("v1.{t}.json"), "v1.<jwt-redacted>.json".into()),
            (format!("a {t} b {t}"), "a <jwt-redacted> b <jwt-redacted>".into()),
            (format!("Bearer {t}"), "Bearer <jwt-redacted>".into()),
        ] {
            assert_eq!(redact_jwts(&input), want, "{input}");
        }
        // whitespace before the brace, and a JWE with five segments
        let ws = format!("{}.{}.x", b64(" {\"alg\":\"HS256\"}"), b64("{}"));
        assert_eq!(redact_jwts(&ws), JWT_MARKER);
        let jwe = format!("{}.a2V5.aXY.Y2lwaGVy.dGFn", b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
        assert_eq!(redact_jwts(&format!("/x/{jwe}/y")), "/x/<jwt-redacted>/y");
    }

    /// The length cut of `redact_jwts` skips only what the scan would
    /// leave: JWT-shaped text up to MIN_HEADER + 2 bytes holds no token.
    #[test]
    fn short_text_holds_no_token() {
        let t = jwt();
        let mut cases = vec![String::new(), ".".repeat(MIN_HEADER + 2)];
        for cut in 1..=MIN_HEADER + 2 {
            // the start of a real token, its header cut short with dots in it
            cases.push(t[..cut].to_string());
            let mut s = t[..cut].to_string();
            for at in [cut / 3, 2 * cut / 3] {
                if at > 0 && at < s.len() {
                    s.replace_range(at..at + 1, ".");
                }
            }
            cases.push(s);
            cases.push(format!("eyJ{}", ".".repeat(cut.saturating_sub(3))));
        }
        for c in cases.iter().filter(|c| c.len() <= MIN_HEADER + 2) {
            assert!(matches!(scan(c), Cow::Borrowed(_)), "{c:?}");
        }
        // and the scan finds a token as soon as one fits
        assert!(matches!(scan(&t), Cow::Owned(_)));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.110 Safari/537.36",
            "api.acme.example",
            "ewr.example.com",
            "198.18.1.10, 2001:db8::1",
            "/api/v1.2.3/orders",
            "req-7f3a.b2c4.d9e1",
            "a..b...c",
            "",
        ] {
            assert!(matches!(redact_jwts(s), Cow::Borrowed(_)), "{s}");
        }
    }
}
