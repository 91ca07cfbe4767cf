//! The fast path of the Kong parser: one strict walk of the line
//! ([`Cur`]) that reads the fields tokenhound needs and skips Kong's other
//! objects (latencies, tries, route, response headers...) without building
//! them. It fills the same [`Line`] serde would, and gives up (`None`: the
//! serde parser then reads the line, or words its error) on anything
//! unusual: a known key given twice, an escaped key, a value of an odd
//! type, `\u` escapes. Plain strings are borrowed from the line; escaped
//! strings, header arrays and the `jwt` claims go to serde one value at a
//! time, so their meaning is serde's.

use std::borrow::Cow;

use super::super::fields::{HeaderOf, Num, Parsed, Str, TimeVal};
use super::super::jcur::{Cur, DEPTH};
use super::{convert, Headers, Line, Named, Request, Response};
use crate::token::{ClaimVal, RawClaims};

/// One value read by serde alone (its meaning and its errors are serde's).
fn by_serde<'a, T: serde::Deserialize<'a>>(c: &mut Cur<'a>, depth: u32) -> Option<T> {
    sonic_rs::from_slice(c.span(depth)?).ok()
}

fn text<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Option<Str<'a>>> {
    match c.plain()? {
        Some(s) => Some(Some(Str(Cow::Borrowed(s)))),
        None => by_serde(c, depth),
    }
}

fn num(c: &mut Cur<'_>, depth: u32) -> Option<Num> {
    match c.small_uint()? {
        Some(n) => Some(Num(Some(n as f64))),
        None => by_serde(c, depth),
    }
}

fn header<'a, const J: bool>(c: &mut Cur<'a>, depth: u32) -> Option<HeaderOf<'a, J>> {
    match c.plain()? {
        Some(s) => Some(HeaderOf(Some(Str(Cow::Borrowed(s))))),
        None => by_serde(c, depth),
    }
}

fn time<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Option<TimeVal<'a>>> {
    if let Some(n) = c.small_uint()? {
        return Some(Some(TimeVal::Num(n as f64)));
    }
    match c.plain()? {
        Some(s) => Some(Some(TimeVal::Str(Str(Cow::Borrowed(s))))),
        None => by_serde(c, depth),
    }
}

/// Each key of an object once: `pick` names a known key's bit (0 for a key
/// to skip); a known key given twice, or an escaped key, is not taken.
fn fields<'a>(
    c: &mut Cur<'a>,
    depth: u32,
    pick: impl Fn(&[u8]) -> u32,
    mut read: impl FnMut(&mut Cur<'a>, u32) -> Option<()>,
) -> Option<()> {
    if c.peek()? != b'{' {
        return None;
    }
    let mut seen = 0u32;
    c.object(depth, |c, k, esc| {
        if esc {
            return None;
        }
        match pick(k) {
            0 => c.skip(depth - 1),
            bit if seen & bit != 0 => None,
            bit => {
                seen |= bit;
                read(c, bit)
            }
        }
    })
}

fn headers<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Headers<'a>> {
    let mut h = Headers::default();
    let pick = |k: &[u8]| match k {
        b"user-agent" => 1,
        b"authorization" => 2,
        b"x-forwarded-for" => 4,
        b"x-request-id" => 8,
        _ => 0,
    };
    fields(c, depth, pick, |c, bit| {
        let d = depth - 1;
        match bit {
            1 => h.user_agent = header(c, d)?,
            2 => h.authorization = header(c, d)?,
            4 => h.xff = header(c, d)?,
            _ => h.request_id = header(c, d)?,
        }
        Some(())
    })?;
    Some(h)
}

fn request<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Request<'a>> {
    let mut r = Request::default();
    let pick = |k: &[u8]| match k {
        b"method" => 1,
        b"uri" => 2,
        b"size" => 4,
        b"id" => 8,
        b"headers" => 16,
        _ => 0,
    };
    fields(c, depth, pick, |c, bit| {
        let d = depth - 1;
        match bit {
            1 => r.method = text(c, d)?,
            2 => r.uri = text(c, d)?,
            4 => r.size = num(c, d)?,
            8 => r.id = text(c, d)?,
            _ => r.headers = headers(c, d)?,
        }
        Some(())
    })?;
    Some(r)
}

fn response(c: &mut Cur<'_>, depth: u32) -> Option<Response> {
    let mut r = Response::default();
    let pick = |k: &[u8]| match k {
        b"status" => 1,
        b"size" => 2,
        _ => 0,
    };
    fields(c, depth, pick, |c, bit| {
        match bit {
            1 => r.status = num(c, depth - 1)?,
            _ => r.size = num(c, depth - 1)?,
        }
        Some(())
    })?;
    Some(r)
}

fn named<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Named<'a>> {
    let mut n = Named::default();
    fields(
        c,
        depth,
        |k| u32::from(k == b"name"),
        |c, _| {
            n.name = text(c, depth - 1)?;
            Some(())
        },
    )?;
    Some(n)
}

fn record<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Line<'a>> {
    let mut l = Line::default();
    let pick = |k: &[u8]| match k {
        b"started_at" => 1,
        b"client_ip" => 2,
        b"request" => 4,
        b"response" => 8,
        b"service" => 16,
        b"jwt" => 32,
        _ => 0,
    };
    fields(c, depth, pick, |c, bit| {
        let d = depth - 1;
        match bit {
            1 => l.started_at = time(c, d)?,
            2 => l.client_ip = text(c, d)?,
            4 => l.request = Some(request(c, d)?),
            8 => l.response = Some(response(c, d)?),
            16 => l.service = Some(named(c, d)?),
            _ => l.jwt = claims(c, d)?,
        }
        Some(())
    })?;
    Some(l)
}

/// The `jwt` object: each claim as the claims parser records it (plain
/// strings borrowed, small numbers read here, other values by serde).
fn claims<'a>(c: &mut Cur<'a>, depth: u32) -> Option<Option<RawClaims<'a>>> {
    if c.peek()? != b'{' {
        return by_serde(c, depth);
    }
    let mut rc = RawClaims::default();
    c.object(depth, |c, k, esc| {
        if esc {
            return None;
        }
        let Some(i) = RawClaims::claim_index(k) else { return c.skip(depth - 1) };
        let v = if let Some(s) = c.plain()? {
            ClaimVal::Str(Str(Cow::Borrowed(s)))
        } else if let Some(n) = c.small_uint()? {
            ClaimVal::Num(n as f64)
        } else {
            by_serde(c, depth - 1)?
        };
        rc.set(i, v);
        Some(())
    })?;
    Some(Some(rc))
}

/// One Kong record, when the fast path takes the whole line.
pub fn line(s: &[u8]) -> Option<Line<'_>> {
    let mut c = Cur::new(s)?;
    let l = record(&mut c, DEPTH)?;
    c.end()?;
    Some(l)
}

/// A kafka-log batch whose every record converts, when the fast path takes
/// the whole line (at most `max` records).
pub fn batch(s: &[u8], max: usize) -> Option<Vec<Parsed<'_>>> {
    let mut c = Cur::new(s)?;
    if c.peek()? != b'[' {
        return None;
    }
    let mut out = Vec::new();
    c.array(DEPTH, |c| {
        if out.len() == max {
            return None;
        }
        out.push(convert(record(c, DEPTH - 1)?).ok()?);
        Some(())
    })?;
    c.end()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::super::common::from_json;
    use super::super::{serde_batch, P};
    use super::*;

    /// What serde makes of a record, converted (events or the error).
    fn reference(s: &[u8]) -> String {
        format!("{:?}", from_json::<Line>(s, P).and_then(convert))
    }

    /// The fast path agrees with serde on every line it takes.
    fn agrees(s: &[u8]) -> bool {
        let text = String::from_utf8_lossy(s);
        let s = text.as_bytes();
        let one = line(s).map(|l| {
            assert!(sonic_rs::from_slice::<Line>(s).is_ok(), "taken, but serde refuses: {text}");
            assert_eq!(format!("{:?}", convert(l)), reference(s), "{text}");
        });
        let many = batch(s, 4096).map(|fast| {
            let slow = serde_batch(s).expect("taken, but serde refuses the batch");
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
        });
        one.is_some() || many.is_some()
    }

    fn generated() -> Vec<Vec<u8>> {
        let cfg = crate::gen::GenConfig {
            profile: crate::ingest::Profile::Kong,
            lines: 600,
            users: 40,
            seed: 7,
            mode: crate::gen::TokenMode::Mixed,
            start: crate::model::EventTime(1_793_606_400_000_000),
            shape: crate::gen::Shape::Full,
        };
        let mut out = Vec::new();
        crate::gen::generate(&cfg, &mut out).unwrap();
        out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn takes_kongs_full_log_objects_and_batches_as_serde_reads_them() {
        let lines = generated();
        let taken = lines.iter().filter(|l| agrees(l)).count();
        assert_eq!(taken, lines.len(), "every generated line takes the fast path");
        assert!(lines.iter().any(|l| l[0] == b'['), "the sample holds kafka-log batches");
    }

    #[test]
    fn odd_values_are_read_by_serde_and_doubts_are_not_taken() {
        let base = r#""started_at":1793606402986,"client_ip":"198.18.47.164","service":{"name":"s"}"#;
        let taken = [
            r#""request":{"uri":"\/api\/v1","method":"G\"ET","size":"12","headers":{"x-forwarded-for":["1.2.3.4","5.6.7.8"]}}"#,
            r#""request":{"size":12.5,"headers":{"user-agent":null,"authorization":"Bearer a.b.c"}},"response":{"status":"200"}"#,
            r#""request":{"headers":{}},"jwt":null,"response":{}"#,
            r#""request":{"id":null,"uri":"/x"},"jwt":{"iss":"i","jti":"j","jti":"k"}"#,
            r#""request":{"size":-1},"started_at2":1,"Request":{"a":[1,{"b":"c"}]}"#,
            r#""request":{},"jwt":{"jti":5,"sub":"a\"b","aud":["x","y"],"exp":"12","iat":1.5,"x":{"y":[1]},"jti":"d","nbf":null}"#,
            r#""request":{},"jwt":"-""#,
        ];
        for t in taken {
            let l = format!("{{{base},{t}}}");
            assert!(line(l.as_bytes()).is_some(), "{l}");
            assert!(agrees(l.as_bytes()));
        }
        let refused = [
            r#""request":{"uri":"/a","uri":"/b"}"#,
            r#""request":{"uri":"\u002fa"}"#,
            r#""request":null"#,
            r#""request":{"headers":null}"#,
            r#""request":{"size":1e3}"#,
            r#""req\"uest":{}"#,
            r#""request":{},"started_at":1"#,
            r#""request":{"uri":"/a"},"x":01"#,
            r#""request":{},"jwt":{"jti":"a"1}"#,
            r#""request":{},"jwt":{"j\"ti":"a"}"#,
        ];
        for t in refused {
            let l = format!("{{{base},{t}}}");
            assert!(line(l.as_bytes()).is_none(), "{l}");
            agrees(l.as_bytes());
        }
        assert!(line(format!("{{{base}}} x").as_bytes()).is_none(), "text after the object");
        assert!(line(b"[]").is_none() && batch(b"[]", 10).is_some_and(|b| b.is_empty()));
        let two = format!("[{{{base},\"request\":{{}}}}, {{{base},\"request\":{{}}}}]");
        assert_eq!(batch(two.as_bytes(), 2).map(|b| b.len()), Some(2));
        assert!(batch(two.as_bytes(), 1).is_none(), "over the cap: record by record");
        let bad = format!("[{{{base},\"request\":{{}}}}, {{{base}}}]");
        assert!(batch(bad.as_bytes(), 9).is_none(), "a record without request: the serde path words it");
    }

    fn seeds() -> &'static [Vec<u8>] {
        static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        SEEDS.get_or_init(|| {
        let mut v: Vec<Vec<u8>> = generated().into_iter().step_by(37).collect();
        v.push(br#"{"started_at":"2026-11-02T10:00:00Z","client_ip":"1.2.3.4","request":{"uri":"\/a","headers":{"x-forwarded-for":["1","2"],"user-agent":"a\"b"}},"jwt":{"iss":"x","exp":1e3,"aud":["a"]}}"#.to_vec());
        v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Whatever an edit does to a line, the fast path either leaves it
        /// to serde or reads it as serde does.
        #[test]
        fn edited_lines_are_read_as_serde_reads_them(
            seed in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<u16>(), prop::sample::select(
                b"\"\\{}[],:0123456789-+.eEtrufalsn u/\t\x01\x7f".to_vec()), 0u8..4), 1..6),
        ) {
            let seeds = seeds();
            let mut l = seeds[seed.index(seeds.len())].clone();
            for (pos, byte, op) in edits {
                if l.is_empty() {
                    break;
                }
                let i = pos as usize % l.len();
                match op {
                    0 => l[i] = byte,
                    1 => l.insert(i, byte),
                    2 => { l.remove(i); }
                    _ => l.truncate(i),
                }
            }
            agrees(&l);
        }
    }
}
