//! tokenhound's own normalized NDJSON (documented field by field in
//! `docs/event-format.md`). Strict: unknown fields are errors, so a typo in a
//! rule test or a hand-written scenario is caught. May carry pre-enriched
//! `geo` (rule tests and exported events use it; a GeoIP database, when one is
//! configured, replaces it, see `enrich::GeoLookup::enrich`).

use serde::Deserialize;

use super::common::json_err;
use super::fields::{Num, Parsed, Str, TimeVal};
use super::IngestError;
use crate::model::{Geo, Verdict};
use crate::token::RawClaims;

const P: &str = "tokenhound";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    time: Option<TimeVal<'a>>,
    #[serde(borrow, alias = "ip")]
    client_ip: Option<Str<'a>>,
    #[serde(borrow, default)]
    xff: Option<Str<'a>>,
    #[serde(borrow, alias = "ua", default)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow, default)]
    method: Option<Str<'a>>,
    #[serde(borrow, default)]
    path: Option<Str<'a>>,
    #[serde(default)]
    status: Num,
    #[serde(borrow, default)]
    request_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    gateway: Option<Str<'a>>,
    #[serde(default)]
    bytes: Num,
    #[serde(borrow, default)]
    claims: Option<RawClaims<'a>>,
    #[serde(borrow, default)]
    token: Option<Str<'a>>,
    #[serde(borrow, default)]
    authorization: Option<Str<'a>>,
    #[serde(default)]
    geo: Option<GeoIn>,
    /// Written by exports; recomputed on read.
    #[serde(borrow, default)]
    #[allow(dead_code)]
    token_id: Option<Str<'a>>,
    /// Written by exports: the verification verdict of the original token,
    /// applied only when the reader trusts verdicts (`IngestConfig`).
    #[serde(borrow, default)]
    verdict: Option<Str<'a>>,
    #[serde(borrow, default)]
    #[allow(dead_code)]
    source: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoIn {
    lat: Option<f64>,
    lon: Option<f64>,
    #[serde(default)]
    radius_km: Option<f64>,
    city: Option<String>,
    country: Option<String>,
    asn: Option<u32>,
    as_org: Option<String>,
    /// Anonymizer kinds (`vpn`, `tor`, `proxy`, `residential-proxy`, `relay`, `listed`).
    #[serde(default)]
    anonymizer: Vec<String>,
}

pub fn parse<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), IngestError> {
    let l: Line<'a> = serde_json::from_slice(line).map_err(|e| json_err(P, e))?;
    let time = l.time.ok_or(IngestError::Missing { profile: P, field: "time" })?.to_time(P, "time")?;
    let status = l.status.0.map(|_| l.status.status()).unwrap_or(200);
    // only applied when the reader trusts verdicts (tokenhound's own exports)
    let verdict = l.verdict.as_deref().and_then(Verdict::parse);
    let geo = l.geo.map(|g| Geo {
        lat: g.lat,
        lon: g.lon,
        radius_km: g.radius_km.unwrap_or(0.0),
        city: g.city.map(Into::into),
        country: g.country.map(Into::into),
        asn: g.asn,
        as_org: g.as_org.map(Into::into),
        anonymizer: g
            .anonymizer
            .iter()
            .fold(0, |b, k| b | crate::model::anon::parse(k).unwrap_or(crate::model::anon::LISTED)),
    });
    if let Some((field, v)) = geo.as_ref().and_then(Geo::out_of_range) {
        return Err(IngestError::BadValue { profile: P, field, value: v.to_string() });
    }
    emit(Parsed {
        time,
        peer: l.client_ip,
        xff: l.xff,
        user_agent: l.user_agent,
        method: l.method,
        path: l.path,
        status,
        request_id: l.request_id,
        gateway: l.gateway,
        bytes: l.bytes.bytes(),
        claims: l.claims,
        authorization: l.authorization,
        raw_token: l.token,
        lenient_claims: false,
        geo,
        verdict,
    })
}
