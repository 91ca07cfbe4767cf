//! Version 1 of the events topic: one JSON object per record (`"v":1`).
//! Still read, so records an older ingest stage wrote are judged after an
//! upgrade; written only when `[stream] events_format = 1` (a rolling
//! upgrade from a build that reads nothing else).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Record, WireError, STR_MAX};
use crate::ingest::Interner;
use crate::model::{AccessEvent, EventTime, Geo, Origin, SourcePos, TokenId, TokenInfo, TokenKey, Verdict};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Wire<'a> {
    v: u8,
    time_us: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<IpAddr>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    status: u16,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    gateway: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    token: Option<WireToken<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    geo: Option<WireGeo<'a>>,
    #[serde(borrow)]
    source: WireSource<'a>,
    /// The index of the event in its gateway record (a Kong batch holds several).
    #[serde(default)]
    i: u32,
}

/// A watermark record: `[source, watermark in µs]` pairs.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMarks<'a> {
    v: u8,
    #[serde(borrow)]
    wm: Vec<(Cow<'a, str>, i64)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireToken<'a> {
    key: String,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    jti: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    iss: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    sub: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    aud: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    alg: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(borrow)]
    verdict: Cow<'a, str>,
    /// The claimed `jti` of a token named by its fingerprint.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    claimed_jti: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    detail: Option<Cow<'a, str>>,
    /// `raw` or `claims`.
    #[serde(borrow)]
    origin: Cow<'a, str>,
    #[serde(default)]
    vouched: bool,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireGeo<'a> {
    lat: Option<f64>,
    lon: Option<f64>,
    radius_km: f64,
    #[serde(borrow)]
    city: Option<Cow<'a, str>>,
    #[serde(borrow)]
    country: Option<Cow<'a, str>>,
    asn: Option<u32>,
    #[serde(borrow)]
    as_org: Option<Cow<'a, str>>,
    #[serde(default)]
    anonymizer: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, untagged)]
enum WireSource<'a> {
    Kafka {
        #[serde(borrow)]
        topic: Cow<'a, str>,
        partition: i32,
        offset: i64,
    },
    File {
        #[serde(borrow)]
        file: Cow<'a, str>,
        line: u64,
    },
}

/// A value of a bad record as an error may quote it: cut, token-shaped
/// text scrubbed (the record's writer chose it).
fn quoted(v: &str) -> String {
    crate::ingest::scrub(crate::ingest::cut(v, 64))
}

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// A version 1 watermark record.
pub fn encode_marks(marks: &[(String, EventTime)]) -> Vec<u8> {
    let w = WireMarks { v: 1, wm: marks.iter().map(|(s, t)| (Cow::Borrowed(s.as_str()), t.0)).collect() };
    serde_json::to_vec(&w).expect("marks always serialize")
}

/// The version 1 record of `ev` (`index`: in its gateway record).
pub fn encode(ev: &AccessEvent, index: u32) -> Vec<u8> {
    serde_json::to_vec(&wire(ev, index)).expect("an event always serializes")
}

/// What [`encode`] serializes (borrowing `ev`).
pub(super) fn wire(ev: &AccessEvent, index: u32) -> Wire<'_> {
    let token = ev.token.as_deref().map(|t| WireToken {
        key: hex::encode(t.key.0),
        jti: match &t.id {
            TokenId::Jti { jti, .. } => Some(b(jti)),
            TokenId::Fingerprint(_) => None,
        },
        fingerprint: match &t.id {
            TokenId::Fingerprint(f) => Some(b(f)),
            TokenId::Jti { .. } => None,
        },
        iss: t.iss.as_deref().map(b),
        sub: t.sub.as_deref().map(b),
        client_id: t.client_id.as_deref().map(b),
        aud: t.aud.as_deref().map(b),
        kid: t.kid.as_deref().map(b),
        alg: t.alg.as_deref().map(b),
        exp: t.exp,
        iat: t.iat,
        nbf: t.nbf,
        verdict: b(t.verdict.as_str()),
        claimed_jti: match &t.id {
            TokenId::Fingerprint(_) => t.jti.as_deref().map(b),
            TokenId::Jti { .. } => None,
        },
        detail: t.detail.as_deref().map(b),
        origin: b(match t.origin {
            Origin::Raw => "raw",
            Origin::Claims => "claims",
        }),
        vouched: t.vouched,
        sha256: t.sha256.as_deref().map(b),
    });
    let geo = ev.geo.as_deref().map(|g| WireGeo {
        lat: g.lat,
        lon: g.lon,
        radius_km: g.radius_km,
        city: g.city.as_deref().map(b),
        country: g.country.as_deref().map(b),
        asn: g.asn,
        as_org: g.as_org.as_deref().map(b),
        anonymizer: g.anonymizer,
    });
    let source = match &ev.source {
        SourcePos::Kafka { topic, partition, offset } => {
            WireSource::Kafka { topic: b(topic), partition: *partition, offset: *offset }
        }
        SourcePos::File { path, line } => WireSource::File { file: b(path), line: *line },
        SourcePos::Test { name, .. } => WireSource::File { file: b(name), line: 0 },
    };
    Wire {
        v: 1,
        time_us: ev.time.0,
        client_ip: ev.client_ip,
        user_agent: ev.user_agent.as_deref().map(b),
        method: b(&ev.method),
        path: b(&ev.path),
        status: ev.status,
        request_id: ev.request_id.as_deref().map(b),
        gateway: ev.gateway.as_deref().map(b),
        bytes: ev.bytes,
        token,
        geo,
        source,
        i: index,
    }
}

/// Read a version 1 record (a JSON object).
pub fn decode(bytes: &[u8], strings: &mut Interner) -> Result<Record, WireError> {
    if bytes.starts_with(b"{\"v\":1,\"wm\":") {
        let m: WireMarks<'_> =
            serde_json::from_slice(bytes).map_err(|e| WireError::Json(crate::ingest::scrub(&e.to_string())))?;
        return Ok(Record::Marks(m.wm.into_iter().map(|(s, t)| (s.into_owned(), EventTime(t))).collect()));
    }
    let w: Wire<'_> =
        serde_json::from_slice(bytes).map_err(|e| WireError::Json(crate::ingest::scrub(&e.to_string())))?;
    if w.v != 1 {
        return Err(WireError::Version(w.v));
    }
    let arc = |s: Option<Cow<'_, str>>| s.map(|s| Arc::<str>::from(&*s));
    let token = match w.token {
        None => None,
        Some(t) => {
            let mut key = [0u8; 16];
            hex::decode_to_slice(&t.key, &mut key).map_err(|_| WireError::Key)?;
            let (id, jti) = match (t.jti, t.fingerprint) {
                (Some(jti), _) => {
                    let jti: Arc<str> = (*jti).into();
                    (TokenId::Jti { iss: t.iss.as_deref().unwrap_or("").into(), jti: jti.clone() }, Some(jti))
                }
                (None, Some(f)) => (TokenId::Fingerprint((*f).into()), arc(t.claimed_jti)),
                (None, None) => return Err(WireError::Identity),
            };
            let origin = match &*t.origin {
                "raw" => Origin::Raw,
                "claims" => Origin::Claims,
                o => return Err(WireError::Origin(quoted(o))),
            };
            let verdict = Verdict::parse(&t.verdict).ok_or_else(|| WireError::Verdict(quoted(&t.verdict)))?;
            Some(Arc::new(TokenInfo {
                key: TokenKey(key),
                id,
                jti,
                iss: arc(t.iss),
                sub: arc(t.sub),
                client_id: arc(t.client_id),
                aud: arc(t.aud),
                kid: arc(t.kid),
                alg: arc(t.alg),
                exp: t.exp,
                iat: t.iat,
                nbf: t.nbf,
                verdict,
                detail: arc(t.detail),
                origin,
                vouched: t.vouched,
                sha256: arc(t.sha256),
            }))
        }
    };
    let geo = w.geo.map(|g| Geo {
        lat: g.lat,
        lon: g.lon,
        radius_km: g.radius_km,
        city: arc(g.city),
        country: arc(g.country),
        asn: g.asn,
        as_org: arc(g.as_org),
        anonymizer: g.anonymizer,
    });
    if let Some(g) = &geo {
        super::read::check_geo(g)?;
    }
    let geo = geo.map(Arc::new);
    let source = match w.source {
        WireSource::Kafka { topic, partition, offset } => {
            SourcePos::Kafka { topic: strings.get(&topic, STR_MAX), partition, offset }
        }
        WireSource::File { file, line } => SourcePos::File { path: strings.get(&file, STR_MAX), line },
    };
    let index = w.i;
    Ok(Record::Event(
        AccessEvent {
            time: EventTime(w.time_us),
            client_ip: w.client_ip,
            user_agent: w.user_agent.map(|u| strings.get(&u, STR_MAX)),
            method: strings.get(&w.method, STR_MAX),
            path: strings.get(&w.path, STR_MAX),
            status: w.status,
            request_id: arc(w.request_id),
            gateway: w.gateway.map(|g| strings.get(&g, STR_MAX)),
            bytes: w.bytes,
            token,
            geo,
            source,
        },
        index,
    ))
}
