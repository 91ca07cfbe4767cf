//! Reading version 2 records of the events topic (the layout is in
//! [`super::binary`]): a cursor that names the field of every read, so a
//! truncated, overlong or corrupt record is an error saying where. Lengths
//! and counts are bounded by the bytes left before anything is allocated.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::binary::*;
use super::{Record, WireError, STR_MAX};
use crate::ingest::Interner;
use crate::model::{AccessEvent, EventTime, Geo, Origin, SourcePos, TokenId, TokenInfo, TokenKey};

/// A cursor over one record; every read names the field it is for.
pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
}

type R<T> = Result<T, WireError>;

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize, field: &'static str) -> R<&'a [u8]> {
        if n > self.b.len() {
            return Err(WireError::Truncated(field));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    pub(super) fn byte(&mut self, field: &'static str) -> R<u8> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> R<[u8; N]> {
        Ok(self.take(N, field)?.try_into().expect("N bytes"))
    }

    pub(super) fn u(&mut self, field: &'static str) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(field)?;
            if shift == 63 && b > 1 {
                return Err(WireError::Varint(field));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Varint(field))
    }

    fn i(&mut self, field: &'static str) -> R<i64> {
        let z = self.u(field)?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    fn narrow<T: TryFrom<u64>>(&mut self, field: &'static str) -> R<T> {
        let v = self.u(field)?;
        T::try_from(v).map_err(|_| WireError::Range(field, v.to_string()))
    }

    fn f64(&mut self, field: &'static str) -> R<f64> {
        Ok(f64::from_le_bytes(self.array(field)?))
    }

    fn flags(&mut self, known: u64, field: &'static str) -> R<u64> {
        let f = self.u(field)?;
        if f & !known != 0 {
            return Err(WireError::Flags(field, f & !known));
        }
        Ok(f)
    }

    fn str(&mut self, field: &'static str) -> R<&'a str> {
        let n = self.u(field)?;
        // bounded by the bytes left: no allocation from a hostile length
        let n = usize::try_from(n).ok().filter(|n| *n <= self.b.len()).ok_or(WireError::Truncated(field))?;
        std::str::from_utf8(self.take(n, field)?).map_err(|_| WireError::Utf8(field))
    }

    fn opt(&mut self, on: bool, field: &'static str) -> R<Option<Arc<str>>> {
        Ok(if on { Some(self.str(field)?.into()) } else { None })
    }
}

/// Read a version 2 record (the version byte included).
pub fn decode(bytes: &[u8], strings: &mut Interner) -> R<Record> {
    let mut r = Reader { b: bytes };
    let v = r.byte("format version")?;
    if v != VERSION {
        return Err(WireError::Version(v));
    }
    let rec = match r.byte("record kind")? {
        EVENT => event(&mut r, strings)?,
        MARKS => {
            let n = r.u("watermark count")?;
            // each entry takes at least 2 bytes
            let mut marks = Vec::with_capacity((n as usize).min(r.b.len() / 2));
            for _ in 0..n {
                let s = r.str("watermark source")?.to_string();
                marks.push((s, EventTime(r.i("watermark")?)));
            }
            Record::Marks(marks)
        }
        k => return Err(WireError::Kind(k)),
    };
    if !r.b.is_empty() {
        return Err(WireError::Trailing(r.b.len()));
    }
    Ok(rec)
}

fn event(r: &mut Reader<'_>, strings: &mut Interner) -> R<Record> {
    let index = r.narrow("batch index")?;
    let time = EventTime(r.i("time")?);
    let f = r.flags(EVENT_FLAGS, "event flags")?;
    let client_ip = match (f & IP4 != 0, f & IP6 != 0) {
        (true, true) => return Err(WireError::Flags("event flags", IP4 | IP6)),
        (true, false) => Some(IpAddr::V4(Ipv4Addr::from(r.array::<4>("client_ip")?))),
        (false, true) => Some(IpAddr::V6(Ipv6Addr::from(r.array::<16>("client_ip")?))),
        (false, false) => None,
    };
    let mut intern = |r: &mut Reader<'_>, field| r.str(field).map(|s| strings.get(s, STR_MAX));
    let method = intern(r, "method")?;
    let path = intern(r, "path")?;
    let status = r.narrow("status")?;
    let user_agent = if f & UA != 0 { Some(intern(r, "user_agent")?) } else { None };
    let request_id = r.opt(f & REQUEST_ID != 0, "request_id")?;
    let gateway = if f & GATEWAY != 0 { Some(intern(r, "gateway")?) } else { None };
    let bytes = if f & BYTES != 0 { Some(r.u("bytes")?) } else { None };
    let source = if f & FILE != 0 {
        SourcePos::File { path: intern(r, "source file")?, line: r.u("source line")? }
    } else {
        let topic = intern(r, "source topic")?;
        let p = r.i("source partition")?;
        let partition = i32::try_from(p).map_err(|_| WireError::Range("source partition", p.to_string()))?;
        SourcePos::Kafka { topic, partition, offset: r.i("source offset")? }
    };
    let (token, geo) = SEEN.with_borrow_mut(|seen| -> R<_> {
        let Seen { tokens, geos, names } = seen;
        // a token section starts with its 16-byte key
        let key = r.b.get(..16).and_then(|k| <[u8; 16]>::try_from(k).ok());
        let token = match (f & TOKEN != 0, key) {
            (false, _) => None,
            (true, Some(key)) => Some(cached(tokens, key, r, |r| token(r, names))?),
            (true, None) => Some(Arc::new(token(r, names)?)), // truncated: the read says where
        };
        let geo = if f & GEO != 0 { Some(cached(geos, client_ip, r, geo)?) } else { None };
        Ok((token, geo))
    })?;
    let ev = AccessEvent {
        time,
        client_ip,
        user_agent,
        method,
        path,
        status,
        request_id,
        gateway,
        bytes,
        token,
        geo,
        source,
    };
    Ok(Record::Event(ev, index))
}

/// Tokens (by key) and places (by address) decoded on this thread, with
/// the bytes each was read from. A token is used dozens of times and a place
/// as often as its address, so the records repeat the same bytes: when the
/// bytes ahead start with the ones a value was read from, reading them again
/// would give that value (the reader's path depends only on the bytes it
/// reads), so the value is shared instead of decoded and allocated again.
struct Seen {
    tokens: SeenMap<[u8; 16], TokenInfo>,
    geos: SeenMap<Option<IpAddr>, Geo>,
    /// Issuers and subjects, one `Arc` each among the tokens read (the
    /// engine keys a subject's baseline by them: equal `Arc`s compare by
    /// address).
    names: Interner<Arc<str>>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            tokens: SeenMap::default(),
            geos: SeenMap::default(),
            names: Interner::new(SEEN_MAX).with_max_bytes(SEEN_MAX_BYTES),
        }
    }
}

/// Values by what names them (a token key, an address), with their bytes.
struct SeenMap<K, T> {
    map: HashMap<K, Read<T>, ahash::RandomState>,
    bytes: usize,
}

/// A value and the bytes it was read from.
type Read<T> = (Box<[u8]>, Arc<T>);

impl<K, T> Default for SeenMap<K, T> {
    fn default() -> Self {
        SeenMap { map: HashMap::default(), bytes: 0 }
    }
}

/// Values each map of [`Seen`] holds before it starts over, and their bytes
/// (a hostile writer's long claims cannot make it hold more).
const SEEN_MAX: usize = 16_384;
const SEEN_MAX_BYTES: usize = 4 << 20;

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
}

/// The value `read` would read next, from `map` when its bytes come next.
fn cached<K: Eq + Hash, T>(
    map: &mut SeenMap<K, T>,
    id: K,
    r: &mut Reader<'_>,
    read: impl FnOnce(&mut Reader<'_>) -> R<T>,
) -> R<Arc<T>> {
    if let Some((bytes, v)) = map.map.get(&id) {
        if let Some(rest) = r.b.strip_prefix(&bytes[..]) {
            r.b = rest;
            return Ok(v.clone());
        }
    }
    let start = r.b;
    let v = Arc::new(read(r)?);
    let span = &start[..start.len() - r.b.len()];
    if span.len() > SEEN_MAX_BYTES / 256 {
        return Ok(v); // no real token or place is this long: not worth holding
    }
    if map.map.len() >= SEEN_MAX || map.bytes + span.len() > SEEN_MAX_BYTES {
        (map.map, map.bytes) = (HashMap::default(), 0);
    }
    map.bytes += span.len();
    if let Some((old, _)) = map.map.insert(id, (span.into(), v.clone())) {
        map.bytes -= old.len();
    }
    Ok(v)
}

fn token(r: &mut Reader<'_>, names: &mut Interner<Arc<str>>) -> R<TokenInfo> {
    let key = TokenKey(r.array("token key")?);
    let v = r.byte("verdict")?;
    let verdict = *VERDICTS.get(v as usize).ok_or(WireError::Code("verdict", v))?;
    let origin = match r.byte("origin")? {
        0 => Origin::Raw,
        1 => Origin::Claims,
        o => return Err(WireError::Code("origin", o)),
    };
    let f = r.flags(TOKEN_FLAGS, "token flags")?;
    let has = |bit| f & bit != 0;
    let id = if has(FINGERPRINT) {
        TokenId::Fingerprint(r.str("fingerprint")?.into())
    } else {
        TokenId::Jti { iss: r.str("id iss")?.into(), jti: r.str("id jti")?.into() }
    };
    let (id_iss, id_jti) = match &id {
        TokenId::Jti { iss, jti } => (Some(iss.clone()), Some(jti.clone())),
        TokenId::Fingerprint(_) => (None, None),
    };
    let jti = claim(r, f, JTI, JTI_IS_ID, id_jti, "jti")?;
    // no real name is this long: not worth holding (like `cached`)
    let mut share = |n: &str| if n.len() > SEEN_MAX_BYTES / 256 { Arc::from(n) } else { names.get(n, usize::MAX) };
    let iss = claim(r, f, ISS, ISS_IS_ID, id_iss, "iss")?.map(|n| share(&n));
    let sub = if has(SUB) { Some(share(r.str("sub")?)) } else { None };
    let client_id = r.opt(has(CLIENT_ID), "client_id")?;
    let aud = r.opt(has(AUD), "aud")?;
    let kid = r.opt(has(KID), "kid")?;
    let alg = r.opt(has(ALG), "alg")?;
    let mut num = |bit, field| if has(bit) { r.i(field).map(Some) } else { Ok(None) };
    let (exp, iat, nbf) = (num(EXP, "exp")?, num(IAT, "iat")?, num(NBF, "nbf")?);
    let detail = r.opt(has(DETAIL), "detail")?;
    let sha256 = r.opt(has(SHA256), "sha256")?;
    let vouched = has(VOUCHED);
    Ok(TokenInfo {
        key,
        id,
        jti,
        iss,
        sub,
        client_id,
        aud,
        kid,
        alg,
        exp,
        iat,
        nbf,
        verdict,
        detail,
        origin,
        vouched,
        sha256,
    })
}

/// A `jti` / `iss` claim: absent, the identity's own (`is_id`), or its own string.
fn claim(
    r: &mut Reader<'_>,
    f: u64,
    bit: u64,
    is_id: u64,
    id_part: Option<Arc<str>>,
    field: &'static str,
) -> R<Option<Arc<str>>> {
    match (f & bit != 0, f & is_id != 0) {
        (false, false) => Ok(None),
        (false, true) => Err(WireError::Flags("token flags", is_id)),
        (true, true) => id_part.map(Some).ok_or(WireError::Flags("token flags", is_id)),
        (true, false) => Ok(Some(r.str(field)?.into())),
    }
}

fn geo(r: &mut Reader<'_>) -> R<Geo> {
    let radius_km = r.f64("radius_km")?;
    let f = r.flags(GEO_FLAGS, "geo flags")?;
    let lat = if f & LAT != 0 { Some(r.f64("lat")?) } else { None };
    let lon = if f & LON != 0 { Some(r.f64("lon")?) } else { None };
    let city = r.opt(f & CITY != 0, "city")?;
    let country = r.opt(f & COUNTRY != 0, "country")?;
    let asn = if f & ASN != 0 { Some(r.narrow("asn")?) } else { None };
    let as_org = r.opt(f & AS_ORG != 0, "as_org")?;
    let anonymizer = if f & ANON != 0 { r.byte("anonymizer")? & crate::model::anon::ALL } else { 0 };
    let g = Geo { lat, lon, radius_km, city, country, asn, as_org, anonymizer };
    check_geo(&g)?;
    Ok(g)
}

/// A place the engine can measure with (see [`Geo::out_of_range`]).
pub(super) fn check_geo(g: &Geo) -> R<()> {
    match g.out_of_range() {
        Some((field, v)) => Err(WireError::Range(field, v.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::{back, event};
    use super::super::to_vec;
    use crate::model::{TokenId, TokenKey};

    #[test]
    fn tokens_read_share_their_subject_names() {
        // two tokens of one subject: one Arc each for its issuer and subject
        // (the engine keys the subject's baseline by them)
        let a = event("a");
        let mut b = event("a");
        let t = Arc::make_mut(b.token.as_mut().unwrap());
        (t.key, t.id) = (TokenKey([8; 16]), TokenId::Jti { iss: "https://idp".into(), jti: "j-2".into() });
        t.jti = Some("j-2".into());
        let ((ra, _), (rb, _)) = (back(&to_vec(&a, 0)), back(&to_vec(&b, 0)));
        let (ta, tb) = (ra.token.unwrap(), rb.token.unwrap());
        assert_ne!(ta.key, tb.key);
        assert!(Arc::ptr_eq(ta.sub.as_ref().unwrap(), tb.sub.as_ref().unwrap()));
        assert!(Arc::ptr_eq(ta.iss.as_ref().unwrap(), tb.iss.as_ref().unwrap()));
        assert_eq!((ta.sub.as_deref(), tb.iss.as_deref()), (Some("alice"), Some("https://idp")));
    }
}
