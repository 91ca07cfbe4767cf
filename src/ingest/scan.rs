//! Structural checks on a line before any parser sees it: nesting depth
//! (deep arrays overflow recursive parsers: a 60 KB line of `[[[[...` would
//! abort the process), and the top-level records of a JSON array (a Kong
//! kafka-log batch), so one bad record does not take its neighbours with it.

/// The default nesting limit of a gateway line (Kong nests about five deep).
pub const MAX_DEPTH: usize = 64;

/// The stack of a thread that parses lines: the parsers recurse once a level
/// (sonic-rs skips unknown values by recursion), and a debug build's frames
/// overflowed the default 2 MiB at 60 levels. Untouched stack costs no
/// memory, so this is room, not use.
pub const PARSE_STACK_BYTES: usize = 16 << 20;

/// How deep `line` nests, up to `limit`; `Err(at)` with the byte offset where
/// it went past the limit. Brackets inside strings do not count. Lines with
/// fewer brackets than the limit (nearly all) are answered by one SIMD count.
pub fn check_depth(line: &[u8], limit: usize) -> Result<(), usize> {
    if count_opens(line) <= limit {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &b) in line.iter().enumerate() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// How many `[` and `{` bytes `line` holds (in strings too). The two differ
/// only in bit 0x20, and the count is summed in bytes per 255-byte block, a
/// loop the compiler vectorizes with the baseline SSE2 (memchr2's iterator
/// paid a call per bracket: a dozen a Kong line).
fn count_opens(line: &[u8]) -> usize {
    line.chunks(255).map(|c| c.iter().fold(0u8, |n, &b| n + u8::from((b | 0x20) == b'{')) as usize).sum()
}

/// The byte ranges of the elements of a top-level JSON array, or `None`
/// when `line` is not one (unbalanced, or text after the closing bracket).
/// Only the structure is checked: each element is parsed on its own.
pub fn split_array(line: &[u8]) -> Option<Vec<(usize, usize)>> {
    split_array_simd(line).or_else(|| split_array_bytes(line))
}

/// The fast path: sonic-rs skips each element with SIMD; only the gaps
/// between elements are checked byte by byte. Anything it does not take
/// cleanly (a malformed element, an empty one) goes to the byte scanner,
/// which keeps the good neighbours of a bad record.
fn split_array_simd(line: &[u8]) -> Option<Vec<(usize, usize)>> {
    // sonic-rs's skipper takes `\u` + any four bytes: it could swallow a
    // quote the byte scanner sees; lines with `\u` take the byte scanner
    if memchr::memmem::find(line, b"\\u").is_some() {
        return None;
    }
    let base = line.as_ptr() as usize;
    let mut out = Vec::with_capacity(8);
    for v in sonic_rs::to_array_iter(line) {
        let v = v.ok()?;
        let raw = v.as_raw_str().as_bytes();
        let a = (raw.as_ptr() as usize).checked_sub(base)?;
        let b = a.checked_add(raw.len()).filter(|&b| b <= line.len())?;
        out.push((a, b));
    }
    // the structure between the elements: `[`, `,`, `]` and whitespace only
    let ws = |s: &[u8]| s.iter().all(|b| b.is_ascii_whitespace());
    let open = line.iter().position(|b| !b.is_ascii_whitespace())?;
    if line[open] != b'[' {
        return None;
    }
    let mut at = open + 1;
    for (i, &(a, b)) in out.iter().enumerate() {
        let gap = line.get(at..a)?;
        let gap =
            if i == 0 { gap } else { gap.strip_prefix(b",").or_else(|| gap.trim_ascii_start().strip_prefix(b","))? };
        if !ws(gap) {
            return None;
        }
        at = b;
    }
    let tail = line.get(at..)?.trim_ascii_start().strip_prefix(b"]")?;
    ws(tail).then_some(out)
}

fn split_array_bytes(line: &[u8]) -> Option<Vec<(usize, usize)>> {
    let open = line.iter().position(|b| !b.is_ascii_whitespace())?;
    if line[open] != b'[' {
        return None;
    }
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut start = open + 1;
    let mut seen_comma = false;
    for (i, &b) in line.iter().enumerate().skip(open) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    push_elem(line, start, i, out.is_empty() && !seen_comma, &mut out);
                    let rest = &line[i + 1..];
                    return rest.iter().all(|b| b.is_ascii_whitespace()).then_some(out);
                }
            }
            b',' if depth == 1 => {
                seen_comma = true;
                push_elem(line, start, i, false, &mut out);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// Call `each` with the raw bytes (escapes as written) of every key of a
/// top-level JSON object, in order; nothing for a line that is no object.
/// Keys of nested objects and string values are skipped, so what a sender
/// chose (a user agent `started_at`, a claim named like a gateway's field)
/// is never taken for a key of the line. Stops at the object's end.
pub fn top_level_keys(line: &[u8], mut each: impl FnMut(&[u8])) {
    let Some(open) = line.iter().position(|b| !b.is_ascii_whitespace()) else { return };
    if line[open] != b'{' {
        return;
    }
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    // at depth 1, a string right after `{` or `,` is a key
    let mut expect_key = false;
    let mut key_start: Option<usize> = None;
    for (i, &b) in line.iter().enumerate().skip(open) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => {
                    in_str = false;
                    if let Some(k) = key_start.take() {
                        each(&line[k..i]);
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                if depth == 1 && expect_key {
                    key_start = Some(i + 1);
                }
                expect_key = false;
            }
            b'[' | b'{' => {
                depth += 1;
                expect_key = depth == 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return;
                }
            }
            b',' => expect_key = depth == 1,
            b if b.is_ascii_whitespace() => {}
            _ => expect_key = false,
        }
    }
}

/// One element's range, trimmed; an empty element (`[1,,2]`) is kept as an
/// empty range (a bad record of its own), except in `[]`.
fn push_elem(line: &[u8], start: usize, end: usize, closing_empty_ok: bool, out: &mut Vec<(usize, usize)>) {
    let s = &line[start..end];
    match (s.iter().position(|b| !b.is_ascii_whitespace()), s.iter().rposition(|b| !b.is_ascii_whitespace())) {
        (Some(a), Some(z)) => out.push((start + a, start + z + 1)),
        _ if closing_empty_ok => {}
        _ => out.push((start, start)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_structure_not_strings() {
        assert!(check_depth(br#"{"a":[1,{"b":2}]}"#, 3).is_ok());
        assert_eq!(check_depth(br#"{"a":[1,{"b":2}]}"#, 2), Err(8));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(check_depth(deep.as_bytes(), MAX_DEPTH), Err(MAX_DEPTH));
        // brackets in strings (and escaped quotes) are text
        let s = format!(r#"{{"ua":"{}\"{}"}}"#, "[".repeat(200), "{".repeat(200));
        assert!(check_depth(s.as_bytes(), 2).is_ok());
    }

    /// The fast count is the bytes `[` and `{`, whatever the other bytes
    /// (among them bytes one bit from a bracket, and `Z`/`z`, whose 0x20
    /// bit differs as the brackets' does) and the length (block edges).
    #[test]
    fn opens_counted_as_bytes() {
        let mut rng = crate::gen::Rng::new(7);
        for len in (0..600).chain([1020, 1021, 4096, 70_000]) {
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    // brackets, near misses, anything
                    let any = rng.next_u64() as u8;
                    *rng.pick(&[b'[', b'{', 0xdb, 0xfb, b']', b'}', b'Z', b'z', any])
                })
                .collect();
            let want = line.iter().filter(|&&b| b == b'[' || b == b'{').count();
            assert_eq!(count_opens(&line), want, "length {len}");
        }
        assert_eq!(count_opens(&[b'{'; 10_000]), 10_000, "a block of brackets only");
    }

    #[test]
    fn top_level_keys_only() {
        let keys = |l: &str| {
            let mut v = Vec::new();
            top_level_keys(l.as_bytes(), |k| v.push(String::from_utf8(k.to_vec()).unwrap()));
            v
        };
        let l = r#" { "a" : "started_at", "b\"c":{"started_at":1,"x":[{"y":2}]}, "d":[1,"e"] ,"f":null} "#;
        assert_eq!(keys(l), ["a", r#"b\"c"#, "d", "f"]);
        assert!(keys(r#"[{"a":1}]"#).is_empty());
        assert!(keys("started_at").is_empty());
        assert_eq!(keys(r#"{"a":1"#), ["a"], "unbalanced: the keys seen");
    }

    #[test]
    fn splits_top_level_records() {
        let l = br#" [ {"a":"x,]"} , {"b":[1,2]},{"c":{}} ] "#;
        let parts: Vec<&str> =
            split_array(l).unwrap().iter().map(|&(a, b)| std::str::from_utf8(&l[a..b]).unwrap()).collect();
        assert_eq!(parts, [r#"{"a":"x,]"}"#, r#"{"b":[1,2]}"#, r#"{"c":{}}"#]);
        assert_eq!(split_array(b"[]").unwrap(), Vec::<(usize, usize)>::new());
        assert!(split_array(b"[1,2").is_none());
        assert!(split_array(b"[1] x").is_none());
        assert!(split_array(b"{}").is_none());
        assert_eq!(split_array(b"[1,,2]").unwrap().len(), 3);
        // the SIMD path takes a clean batch (its slices borrow the line)
        assert_eq!(split_array_simd(br#" [{"a":1}, {"b":[2]}] "#), Some(vec![(2, 9), (11, 20)]));
        // the SIMD path and the byte scanner agree on every shape
        for l in [
            &br#"[{"a":"]"}, {"b":[1,2]} ,3 ]"#[..],
            br#" [ {"a":1} ] "#,
            br#"[{"a":1},]"#,
            br#"[{"a":1} {"b":2}]"#,
            br#"[{"a":1}],"#,
            br#"[{"a":"\u00"},{"b":2}]"#,
            b"[]",
            b"[ ]",
            br#"[{"a":1},{"b":2}"#,
            br#"[ "\u00"-0"]"#,
            br#"[{"a":"\u00"},{"b":"\u0041"}]"#,
        ] {
            assert_eq!(split_array(l), split_array_bytes(l), "{}", String::from_utf8_lossy(l));
        }
    }
}
