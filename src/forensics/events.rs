//! Rows of normalized Parquet frames back into events for the engine. The
//! token and the place of a row are shared with the previous rows of the
//! same token id / address when every field is the same (a bounded cache;
//! checked field by field, so a row that differs gets its own), and the
//! repeated strings are interned: a row costs two allocations (request id,
//! source), not one a field, once the caches know the tokens and places.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use polars::prelude::{
    BooleanChunked, DataFrame, Float64Chunked, Int64Chunked, StringChunked, UInt32Chunked, UInt64Chunked,
};

use super::progress::Progress;
use crate::ingest::Interner;
use crate::model::{AccessEvent, EventTime, Geo, IStr, Origin, SourcePos, TokenId, TokenInfo, TokenKey, Verdict};
use crate::token::IdentityKeys;

/// Entries a cache holds before it starts again.
const CACHE: usize = 65_536;
/// Bytes of strings both caches hold before they start again (ids and
/// claims are the log's, of any size).
const CACHE_BYTES: usize = 64 << 20;

/// Turns frames into events; keeps its caches from one frame to the next.
pub struct EventReader<'k> {
    ids: &'k IdentityKeys,
    strings: Interner,
    tokens: HashMap<String, Arc<TokenInfo>, ahash::RandomState>,
    places: HashMap<String, Arc<Geo>, ahash::RandomState>,
    cached_bytes: usize,
}

/// The typed columns of one frame.
struct Cols<'a> {
    s: [&'a StringChunked; STRS],
    vouched: &'a BooleanChunked,
    time: &'a Int64Chunked,
    status: &'a UInt32Chunked,
    bytes: &'a UInt64Chunked,
    dates: [&'a Int64Chunked; 3],
    floats: [&'a Float64Chunked; 3],
    asn: &'a UInt32Chunked,
}

/// The string columns: the export's, then the line each row came from.
const STRS: usize = super::export::STR_COLS.len() + 1;
// indexes into the export's `STR_COLS`, then `source`
const IP: usize = 0;
const UA: usize = 1;
const METHOD: usize = 2;
const PATH: usize = 3;
const RID: usize = 4;
const GW: usize = 5;
const TID: usize = 6;
const ISS: usize = 7;
const JTI: usize = 8;
const SUB: usize = 9;
const CID: usize = 10;
const AUD: usize = 11;
const KID: usize = 12;
const ALG: usize = 13;
const VERDICT: usize = 14;
const ORIGIN: usize = 15;
const SHA: usize = 16;
const CITY: usize = 17;
const COUNTRY: usize = 18;
const ORG: usize = 19;
const SRC: usize = 20;
const _: () = assert!(SRC + 1 == STRS, "`source` follows the export's string columns");

impl<'a> Cols<'a> {
    fn new(df: &'a DataFrame) -> Result<Self> {
        let mut s = Vec::with_capacity(STRS);
        for n in super::export::STR_COLS.iter().copied().chain(["source"]) {
            s.push(df.column(n)?.str()?);
        }
        let i64s = |n: &str| -> Result<&'a Int64Chunked> { Ok(df.column(n)?.i64()?) };
        let f64s = |n: &str| -> Result<&'a Float64Chunked> { Ok(df.column(n)?.f64()?) };
        Ok(Cols {
            s: s.try_into().map_err(|_| anyhow::anyhow!("string columns"))?,
            vouched: df.column("vouched")?.bool()?,
            time: i64s("time")?,
            status: df.column("status")?.u32()?,
            bytes: df.column("bytes")?.u64()?,
            dates: [i64s("exp")?, i64s("iat")?, i64s("nbf")?],
            floats: [f64s("lat")?, f64s("lon")?, f64s("radius_km")?],
            asn: df.column("asn")?.u32()?,
        })
    }

    fn str(&self, c: usize, i: usize) -> Option<&'a str> {
        self.s[c].get(i)
    }
}

fn same(a: &Option<Arc<str>>, b: Option<&str>) -> bool {
    a.as_deref() == b
}

fn bits(v: Option<f64>) -> Option<u64> {
    v.map(f64::to_bits)
}

impl<'k> EventReader<'k> {
    pub fn new(ids: &'k IdentityKeys) -> Self {
        EventReader {
            ids,
            strings: Interner::new(65_536),
            tokens: HashMap::default(),
            places: HashMap::default(),
            cached_bytes: 0,
        }
    }

    /// Every row of `df` (rows `done`.. of the input) as an event, in order.
    pub fn each(&mut self, df: &DataFrame, mut f: impl FnMut(AccessEvent), bar: &Progress, done: u64) -> Result<()> {
        let c = Cols::new(df)?;
        for i in 0..df.height() {
            if i.is_multiple_of(65_536) {
                bar.set(done + i as u64);
            }
            let token = c.str(TID, i).map(|id| self.token(&c, i, id));
            let geo = self.place(&c, i);
            let s = &mut self.strings;
            f(AccessEvent {
                time: EventTime(c.time.get(i).unwrap_or(0)),
                client_ip: c.str(IP, i).and_then(|v| v.parse().ok()),
                user_agent: c.str(UA, i).map(|v| s.get(v, 4096)),
                method: s.get(c.str(METHOD, i).unwrap_or(""), 64),
                path: s.get(c.str(PATH, i).unwrap_or(""), 4096),
                status: c.status.get(i).unwrap_or(0) as u16,
                request_id: c.str(RID, i).map(Arc::from),
                gateway: c.str(GW, i).map(|v| s.get(v, 256)),
                bytes: c.bytes.get(i),
                token,
                geo,
                source: SourcePos::File {
                    path: IStr::from(c.str(SRC, i).unwrap_or("parquet")),
                    line: done + i as u64 + 1,
                },
            });
        }
        Ok(())
    }

    fn token(&mut self, c: &Cols<'_>, i: usize, id: &str) -> Arc<TokenInfo> {
        let verdict = c.str(VERDICT, i).and_then(Verdict::parse).unwrap_or(Verdict::NotChecked);
        let origin = if c.str(ORIGIN, i) == Some("raw") { Origin::Raw } else { Origin::Claims };
        let vouched = c.vouched.get(i).unwrap_or(false) && !verdict.is_forged();
        let [exp, iat, nbf] = c.dates.map(|d| d.get(i));
        if let Some(t) = self.tokens.get(id) {
            let strs = [(&t.jti, JTI), (&t.iss, ISS), (&t.sub, SUB), (&t.client_id, CID), (&t.aud, AUD)];
            let more = [(&t.kid, KID), (&t.alg, ALG), (&t.sha256, SHA)];
            if strs.iter().chain(more.iter()).all(|(a, col)| same(a, c.str(*col, i)))
                && (t.exp, t.iat, t.nbf) == (exp, iat, nbf)
                && (t.verdict, t.origin, t.vouched) == (verdict, origin, vouched)
            {
                return t.clone();
            }
        }
        let (iss, jti) = (c.str(ISS, i), c.str(JTI, i));
        let (key, tid) = match (id.strip_prefix("fp:"), jti) {
            (Some(fp), _) => (self.ids.jti_key("\0fingerprint", fp), TokenId::Fingerprint(fp.into())),
            (None, Some(j)) => {
                (self.ids.jti_key(iss.unwrap_or(""), j), TokenId::Jti { iss: iss.unwrap_or("").into(), jti: j.into() })
            }
            (None, None) => (self.ids.jti_key("\0id", id), TokenId::Fingerprint(id.into())),
        };
        let arc = |col: usize| c.str(col, i).map(Arc::<str>::from);
        let mut t = TokenInfo::bare(TokenKey(key.0), tid, verdict, origin);
        (t.jti, t.iss, t.sub, t.client_id, t.aud) = (arc(JTI), arc(ISS), arc(SUB), arc(CID), arc(AUD));
        (t.kid, t.alg, t.sha256) = (arc(KID), arc(ALG), arc(SHA));
        (t.exp, t.iat, t.nbf) = (exp, iat, nbf);
        t.vouched = vouched;
        let t = Arc::new(t);
        let len = |v: &Option<Arc<str>>| v.as_deref().map_or(0, str::len);
        let strs = [&t.jti, &t.iss, &t.sub, &t.client_id, &t.aud, &t.kid, &t.alg, &t.sha256];
        self.room(id.len() + strs.iter().map(|v| len(v)).sum::<usize>());
        if self.tokens.len() >= CACHE {
            self.tokens.clear();
        }
        self.tokens.insert(id.to_string(), t.clone());
        t
    }

    /// Count `bytes` more cached; past [`CACHE_BYTES`], both caches start again.
    fn room(&mut self, bytes: usize) {
        self.cached_bytes += bytes + 128;
        if self.cached_bytes > CACHE_BYTES {
            self.tokens.clear();
            self.places.clear();
            self.cached_bytes = bytes + 128;
        }
    }

    fn place(&mut self, c: &Cols<'_>, i: usize) -> Option<Arc<Geo>> {
        let [lat, lon, rad] = c.floats.map(|f| f.get(i));
        let asn = c.asn.get(i);
        let (city, country, org) = (c.str(CITY, i), c.str(COUNTRY, i), c.str(ORG, i));
        if lat.is_none() && asn.is_none() && country.is_none() {
            return None;
        }
        let ip = c.str(IP, i).unwrap_or("");
        let radius_km = rad.unwrap_or(0.0);
        if let Some(g) = self.places.get(ip) {
            if (bits(g.lat), bits(g.lon), g.radius_km.to_bits(), g.asn)
                == (bits(lat), bits(lon), radius_km.to_bits(), asn)
                && same(&g.city, city)
                && same(&g.country, country)
                && same(&g.as_org, org)
            {
                return Some(g.clone());
            }
        }
        let arc = |v: Option<&str>| v.map(Arc::<str>::from);
        let g = Arc::new(Geo {
            lat,
            lon,
            radius_km,
            city: arc(city),
            country: arc(country),
            asn,
            anonymizer: 0,
            as_org: arc(org),
        });
        // a row's place off the globe (NaN, infinite or negative radius,
        // latitude beyond 90) cannot be measured with: no place, as the
        // stream and replay refuse it
        if g.out_of_range().is_some() {
            return None;
        }
        self.room(ip.len() + [city, country, org].iter().map(|v| v.map_or(0, str::len)).sum::<usize>());
        if self.places.len() >= CACHE {
            self.places.clear();
        }
        self.places.insert(ip.to_string(), g.clone());
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{Column, DataType, ParquetReader, SerReader};

    use super::*;

    /// A Parquet input is anyone's file: a row whose place is off the globe
    /// (NaN, a radius below zero or past half the Earth's circumference, a
    /// latitude past the pole) is read without a place, so it can neither
    /// hide nor fake impossible travel.
    #[test]
    fn the_indexes_name_the_exports_columns() {
        let c = super::super::export::STR_COLS;
        let named = [(IP, "client_ip"), (UA, "user_agent"), (TID, "token_id"), (JTI, "jti"), (VERDICT, "verdict")];
        for (i, n) in named.into_iter().chain([(SHA, "sha256"), (CITY, "city"), (ORG, "as_org")]) {
            assert_eq!(c[i], n);
        }
    }

    #[test]
    fn rows_off_the_globe_carry_no_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let mut out = super::super::export::ParquetExport::create(&path).unwrap();
        let london = Geo { lat: Some(51.5), lon: Some(-0.12), radius_km: 10.0, ..Geo::default() };
        let id = TokenId::Jti { iss: "iss".into(), jti: "j".into() };
        let tok = Arc::new(TokenInfo::bare(TokenKey([7; 16]), id, Verdict::Valid, Origin::Claims));
        for i in 0..5 {
            out.push(&AccessEvent {
                time: EventTime(1_000_000 * i),
                client_ip: Some(format!("192.0.2.{i}").parse().unwrap()),
                user_agent: None,
                method: "GET".into(),
                path: "/".into(),
                status: 200,
                request_id: None,
                gateway: None,
                bytes: None,
                token: Some(tok.clone()),
                geo: Some(Arc::new(london.clone())),
                source: SourcePos::Test { name: "t".into(), index: i as u64 },
            })
            .unwrap();
        }
        out.finish().unwrap();
        let mut df = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
        for c in ["time", "exp", "iat", "nbf"] {
            let t = df.column(c).unwrap().cast(&DataType::Int64).unwrap();
            df.with_column(t).unwrap();
        }
        df.with_column(Column::new("lat".into(), [51.5, f64::NAN, 51.5, 51.5, 91.0])).unwrap();
        df.with_column(Column::new("radius_km".into(), [10.0, 10.0, -1.0, 30_000.0, 10.0])).unwrap();
        let ids = IdentityKeys::new(b"test-key-0123456789");
        let mut places = Vec::new();
        let bar = Progress::spinner("test");
        EventReader::new(&ids).each(&df, |e| places.push(e.geo.map(|g| g.lat)), &bar, 0).unwrap();
        assert_eq!(places, [Some(Some(51.5)), None, None, None, None]);
    }
}
