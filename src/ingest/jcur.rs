//! A strict JSON cursor for the fast paths of the profile parsers: it walks
//! a line once, hands the caller the keys it asks about and skips every
//! other value without building it (a string's end is found by a SIMD
//! search for its quote; the line's UTF-8 and control bytes are checked
//! once, up front).
//!
//! It is an accelerator, never an authority: every answer is `Option`, and
//! `None` means "not taken here", sending the line to the serde parser,
//! which then accepts it or words the error. So the cursor may refuse more
//! than serde does (it refuses `\u` escapes, exponents, numbers of more
//! than 18 digits, escaped keys, anything it has a doubt about), but it must
//! never accept a line that serde refuses: it checks the whole grammar,
//! including the values it skips (escapes,
//! number syntax, literals, commas, what follows the value).

/// Containers deeper than this are not taken (the line checks refuse 64).
pub const DEPTH: u32 = 64;

pub struct Cur<'a> {
    t: &'a str,
    s: &'a [u8],
    i: usize,
    /// One bit per byte of the line: its quotes and its backslashes.
    quotes: Masks,
    slashes: Masks,
    any_slash: bool,
}

type Masks = smallvec::SmallVec<[u64; 32]>;

/// Per 64 bytes: the bits of the quotes, of the backslashes and of the
/// control bytes (below 0x20).
#[cfg(target_arch = "x86_64")]
fn block(c: &[u8; 64]) -> (u64, u64, u64) {
    use std::arch::x86_64::*;
    let (mut q, mut b, mut k) = (0u64, 0u64, 0u64);
    for (n, part) in c.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of x86_64; `part` holds the 16 bytes loaded.
        let (qm, bm, km) = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast());
            let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
            (
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))),
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8))),
                _mm_movemask_epi8(ctl),
            )
        };
        q |= (qm as u16 as u64) << (16 * n);
        b |= (bm as u16 as u64) << (16 * n);
        k |= (km as u16 as u64) << (16 * n);
    }
    (q, b, k)
}

#[cfg(not(target_arch = "x86_64"))]
fn block(c: &[u8; 64]) -> (u64, u64, u64) {
    let (mut q, mut b, mut k) = (0u64, 0u64, 0u64);
    for (j, &x) in c.iter().enumerate() {
        q |= u64::from(x == b'"') << j;
        b |= u64::from(x == b'\\') << j;
        k |= u64::from(x < 0x20) << j;
    }
    (q, b, k)
}

/// The first set bit at or after `from` and before `to`.
#[inline]
fn next_bit(m: &[u64], from: usize, to: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut bits = *m.get(w)? & (!0u64 << (from % 64));
    while bits == 0 {
        w += 1;
        if w * 64 >= to {
            return None;
        }
        bits = *m.get(w)?;
    }
    Some(w * 64 + bits.trailing_zeros() as usize).filter(|&at| at < to)
}

impl<'a> Cur<'a> {
    /// A cursor over `s`, when it is UTF-8 and holds no control byte (JSON
    /// allows none in a string, and outside strings only whitespace, which
    /// gateways do not write: such a line is left to serde).
    pub fn new(s: &'a [u8]) -> Option<Self> {
        let t = std::str::from_utf8(s).ok()?;
        let (mut quotes, mut slashes) = (Masks::new(), Masks::new());
        let mut chunks = s.chunks_exact(64);
        let mut ctl = 0u64;
        for c in &mut chunks {
            let (q, b, k) = block(c.try_into().ok()?);
            quotes.push(q);
            slashes.push(b);
            ctl |= k;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut pad = [b' '; 64];
            pad[..rest.len()].copy_from_slice(rest);
            let (q, b, k) = block(&pad);
            quotes.push(q);
            slashes.push(b);
            ctl |= k;
        }
        let any_slash = slashes.iter().any(|&w| w != 0);
        (ctl == 0).then_some(Cur { t, s, i: 0, quotes, slashes, any_slash })
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte that is not whitespace (not consumed).
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Nothing but whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// At a string: its bytes between the quotes, and whether it holds an
    /// escape (then the bytes are as written, not what they mean).
    #[inline]
    pub fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let (s, start) = (self.s, self.i);
        let end = next_bit(&self.quotes, start, s.len())?;
        if !self.any_slash || next_bit(&self.slashes, start, end).is_none() {
            self.i = end + 1;
            return Some((&s[start..end], false));
        }
        // escapes: from one backslash to the next, then the quote after
        let mut i = start;
        loop {
            let end = next_bit(&self.quotes, i, s.len())?;
            let Some(b) = next_bit(&self.slashes, i, end) else {
                self.i = end + 1;
                return Some((&s[start..end], true));
            };
            match *s.get(b + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i = b + 2,
                // `\u` (surrogates, parser differences) and bad escapes
                _ => return None,
            }
        }
    }

    /// A string without escapes, when the next value is one (consumed);
    /// `Some(None)` for another value, or a string with escapes (not
    /// consumed either way).
    #[inline]
    pub fn plain(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? != b'"' {
            return Some(None);
        }
        let at = self.i;
        let (b, esc) = self.string()?;
        if esc {
            self.i = at;
            return Some(None);
        }
        // quotes are ASCII: the slice falls on character boundaries
        self.t.get(at + 1..at + 1 + b.len()).map(Some)
    }

    /// A plain unsigned integer of at most 18 digits, when the next value is
    /// one (not consumed otherwise); `Some(None)` for another value.
    #[inline]
    pub fn small_uint(&mut self) -> Option<Option<u64>> {
        self.peek()?;
        let digits = self.s[self.i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let after = self.s.get(self.i + digits).copied();
        let plain = (1..=18).contains(&digits)
            && (digits == 1 || self.s[self.i] != b'0')
            && !matches!(after, Some(b'.' | b'e' | b'E'));
        if !plain {
            return Some(None);
        }
        let n = self.s[self.i..self.i + digits].iter().fold(0u64, |n, &d| n * 10 + (d - b'0') as u64);
        self.i += digits;
        Some(Some(n))
    }

    fn literal(&mut self, w: &[u8]) -> Option<()> {
        let s = self.s.get(self.i..self.i + w.len())?;
        (s == w).then(|| self.i += w.len())
    }

    /// A JSON number without an exponent and with at most 18 integer digits
    /// (so no parser can find it out of range).
    fn number(&mut self) -> Option<()> {
        let s = self.s;
        let mut i = self.i;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        let int = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if int == 0 || int > 18 || (int > 1 && s[i] == b'0') {
            return None;
        }
        i += int;
        if s.get(i) == Some(&b'.') {
            let frac = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if frac == 0 {
                return None;
            }
            i += 1 + frac;
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            return None;
        }
        self.i = i;
        Some(())
    }

    /// Skip any value, checking it; `depth` containers may still open.
    pub fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth, |c, _, _| c.skip(depth.checked_sub(1)?)),
            b'[' => self.array(depth, |c| c.skip(depth.checked_sub(1)?)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Skip the next value and give its bytes (for a serde parse of just it).
    pub fn span(&mut self, depth: u32) -> Option<&'a [u8]> {
        self.peek()?;
        let start = self.i;
        self.skip(depth)?;
        Some(&self.s[start..self.i])
    }

    /// An object: `each(cursor, key, key_escaped)` must consume the value.
    pub fn object(&mut self, depth: u32, mut each: impl FnMut(&mut Self, &'a [u8], bool) -> Option<()>) -> Option<()> {
        depth.checked_sub(1)?;
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let (k, esc) = self.string()?;
            self.eat(b':')?;
            self.peek()?;
            each(self, k, esc)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array: `each(cursor)` must consume one element.
    pub fn array(&mut self, depth: u32, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        depth.checked_sub(1)?;
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> bool {
        let Some(mut c) = Cur::new(s.as_bytes()) else { return false };
        c.skip(DEPTH).and_then(|_| c.end()).is_some()
    }

    #[test]
    fn takes_json_and_refuses_what_is_not() {
        for ok in [
            r#"{}"#,
            r#" { "a" : [ 1 , -2.5 , true , false , null , "x\"y\\z\/" , { } , [ ] ] } "#,
            r#"{"a":"0123456789abcdefghij","b":0,"c":-0.0}"#,
            "\"\u{e9}\u{1F600} long string spanning several words of eight\"",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "{",
            "}",
            "{,}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            "[1,]",
            "[1 2]",
            r#"{"a":1}x"#,
            "01",
            "1.",
            "-",
            "+1",
            "1e5",
            "1E5",
            "tru",
            "nul",
            "nullx",
            "\"a\tb\"",
            "\"a\nb\"",
            r#""\u0041""#,
            r#""\x""#,
            r#""abc"#,
            "1234567890123456789",
            r#"{1:2}"#,
            "[[[]]",
            r#"{"a" "b"}"#,
            "'a'",
            "NaN",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
        assert!(Cur::new(b"\xff").is_none() && Cur::new(b"\"a\tb\"").is_none() && Cur::new(b"1 \r").is_none());
        assert!(!valid(&deep), "deeper than the limit is not taken");
        let ok = format!("{}{}", "[".repeat(60), "]".repeat(60));
        assert!(valid(&ok));
    }

    #[test]
    fn strings_give_their_bytes_and_escapes() {
        let mut c = Cur::new(br#" "plain" "a\"b" "#).unwrap();
        assert_eq!(c.string(), Some((&b"plain"[..], false)));
        assert_eq!(c.string(), Some((&br#"a\"b"#[..], true)));
        assert!(c.end().is_some());
        let mut c = Cur::new(b"123 0 01 1.5 1234567890123456789").unwrap();
        assert_eq!(c.small_uint(), Some(Some(123)));
        assert_eq!(c.small_uint(), Some(Some(0)));
        assert_eq!(c.small_uint(), Some(None), "a leading zero is not taken");
    }
}
