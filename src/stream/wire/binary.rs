//! Version 2 of the events topic: a compact binary record, hand-written.
//!
//! ```text
//! record  = 0x02 kind body                 (no trailing bytes)
//! kind    = 0x01 event | 0x02 marks
//! event   = index:uvar time_us:svar flags:uvar [ip] method:str path:str
//!           status:uvar [user_agent:str] [request_id:str] [gateway:str]
//!           [bytes:uvar] source [token] [geo]          ([x]: if its flag is set)
//! ip      = 4 or 16 bytes (flag IP4 / IP6)
//! source  = topic:str partition:svar offset:svar       (kafka)
//!         | file:str line:uvar                         (flag FILE)
//! token   = key:16 bytes verdict:u8 origin:u8 flags:uvar id
//!           [jti:str] [iss:str] [sub:str] [client_id:str] [aud:str]
//!           [kid:str] [alg:str] [exp:svar] [iat:svar] [nbf:svar]
//!           [detail:str] [sha256:str]
//! id      = iss:str jti:str | fingerprint:str          (flag FINGERPRINT)
//! geo     = radius_km:f64 flags:uvar [lat:f64] [lon:f64] [city:str] (.. [anonymizer:u8] last)
//!           [country:str] [asn:uvar] [as_org:str]
//! marks   = count:uvar (source:str watermark_us:svar)*
//! uvar    = LEB128; svar = zigzag LEB128; str = len:uvar UTF-8 bytes; f64 = 8 bytes LE
//! ```
//!
//! A token's `jti` / `iss` equal to its identity's are flagged, not repeated.
//! Unknown flag bits and codes are errors (a new field is a new version).
//! Every length is checked against the bytes left before anything is
//! allocated, so a hostile record costs at most its own size (`read`).

use std::net::IpAddr;

use super::cut;
use crate::model::{AccessEvent, EventTime, Origin, SourcePos, TokenId, TokenInfo, Verdict};

pub const VERSION: u8 = 2;
pub(super) const EVENT: u8 = 1;
pub(super) const MARKS: u8 = 2;

// event flags
pub(super) const IP4: u64 = 1;
pub(super) const IP6: u64 = 1 << 1;
pub(super) const UA: u64 = 1 << 2;
pub(super) const REQUEST_ID: u64 = 1 << 3;
pub(super) const GATEWAY: u64 = 1 << 4;
pub(super) const BYTES: u64 = 1 << 5;
pub(super) const FILE: u64 = 1 << 6;
pub(super) const TOKEN: u64 = 1 << 7;
pub(super) const GEO: u64 = 1 << 8;
pub(super) const EVENT_FLAGS: u64 = (1 << 9) - 1;

// token flags, in the order of the optional fields
pub(super) const FINGERPRINT: u64 = 1;
pub(super) const JTI: u64 = 1 << 1;
pub(super) const JTI_IS_ID: u64 = 1 << 2;
pub(super) const ISS: u64 = 1 << 3;
pub(super) const ISS_IS_ID: u64 = 1 << 4;
pub(super) const SUB: u64 = 1 << 5;
pub(super) const CLIENT_ID: u64 = 1 << 6;
pub(super) const AUD: u64 = 1 << 7;
pub(super) const KID: u64 = 1 << 8;
pub(super) const ALG: u64 = 1 << 9;
pub(super) const EXP: u64 = 1 << 10;
pub(super) const IAT: u64 = 1 << 11;
pub(super) const NBF: u64 = 1 << 12;
pub(super) const DETAIL: u64 = 1 << 13;
pub(super) const SHA256: u64 = 1 << 14;
pub(super) const VOUCHED: u64 = 1 << 15;
pub(super) const TOKEN_FLAGS: u64 = (1 << 16) - 1;

// geo flags
pub(super) const LAT: u64 = 1;
pub(super) const LON: u64 = 1 << 1;
pub(super) const CITY: u64 = 1 << 2;
pub(super) const COUNTRY: u64 = 1 << 3;
pub(super) const ASN: u64 = 1 << 4;
pub(super) const AS_ORG: u64 = 1 << 5;
/// An anonymizer byte follows (a reader from before it rejects the flag).
pub(super) const ANON: u64 = 1 << 6;
pub(super) const GEO_FLAGS: u64 = (1 << 7) - 1;

pub(super) const VERDICTS: [Verdict; 7] = [
    Verdict::NotChecked,
    Verdict::Valid,
    Verdict::BadSignature,
    Verdict::UnknownKid,
    Verdict::AlgNone,
    Verdict::AlgNotAllowed,
    Verdict::Malformed,
];

fn verdict_code(v: Verdict) -> u8 {
    VERDICTS.iter().position(|x| *x == v).expect("every verdict has a code") as u8
}

fn flag(on: bool, bit: u64) -> u64 {
    if on {
        bit
    } else {
        0
    }
}

pub(super) fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_s(out: &mut Vec<u8>, s: &str) {
    put_u(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    if let Some(s) = s {
        put_s(out, s);
    }
}

/// Append the record of `ev` (`index`: in its gateway record) to `out`.
pub fn encode(ev: &AccessEvent, index: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&[VERSION, EVENT]);
    put_u(out, u64::from(index));
    put_i(out, ev.time.0);
    let flags = match ev.client_ip {
        Some(IpAddr::V4(_)) => IP4,
        Some(IpAddr::V6(_)) => IP6,
        None => 0,
    } | flag(ev.user_agent.is_some(), UA)
        | flag(ev.request_id.is_some(), REQUEST_ID)
        | flag(ev.gateway.is_some(), GATEWAY)
        | flag(ev.bytes.is_some(), BYTES)
        | flag(!matches!(ev.source, SourcePos::Kafka { .. }), FILE)
        | flag(ev.token.is_some(), TOKEN)
        | flag(ev.geo.is_some(), GEO);
    put_u(out, flags);
    match ev.client_ip {
        Some(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
        Some(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
        None => {}
    }
    put_s(out, cut(&ev.method));
    put_s(out, cut(&ev.path));
    put_u(out, u64::from(ev.status));
    put_opt(out, ev.user_agent.as_deref().map(cut));
    put_opt(out, ev.request_id.as_deref());
    put_opt(out, ev.gateway.as_deref().map(cut));
    if let Some(b) = ev.bytes {
        put_u(out, b);
    }
    match &ev.source {
        SourcePos::Kafka { topic, partition, offset } => {
            put_s(out, cut(topic));
            put_i(out, i64::from(*partition));
            put_i(out, *offset);
        }
        SourcePos::File { path, line } => {
            put_s(out, cut(path));
            put_u(out, *line);
        }
        SourcePos::Test { name, .. } => {
            put_s(out, cut(name));
            put_u(out, 0);
        }
    }
    if let Some(t) = &ev.token {
        put_token(t, out);
    }
    if let Some(g) = &ev.geo {
        out.extend_from_slice(&g.radius_km.to_le_bytes());
        let flags = flag(g.lat.is_some(), LAT)
            | flag(g.lon.is_some(), LON)
            | flag(g.city.is_some(), CITY)
            | flag(g.country.is_some(), COUNTRY)
            | flag(g.asn.is_some(), ASN)
            | flag(g.as_org.is_some(), AS_ORG)
            | flag(g.anonymizer != 0, ANON);
        put_u(out, flags);
        for x in [g.lat, g.lon].into_iter().flatten() {
            out.extend_from_slice(&x.to_le_bytes());
        }
        put_opt(out, g.city.as_deref());
        put_opt(out, g.country.as_deref());
        if let Some(a) = g.asn {
            put_u(out, u64::from(a));
        }
        put_opt(out, g.as_org.as_deref());
        if g.anonymizer != 0 {
            out.push(g.anonymizer);
        }
    }
}

fn put_token(t: &TokenInfo, out: &mut Vec<u8>) {
    out.extend_from_slice(&t.key.0);
    out.push(verdict_code(t.verdict));
    out.push(match t.origin {
        Origin::Raw => 0,
        Origin::Claims => 1,
    });
    let (id_iss, id_jti) = match &t.id {
        TokenId::Jti { iss, jti } => (Some(iss), Some(jti)),
        TokenId::Fingerprint(_) => (None, None),
    };
    let jti_is_id = t.jti.is_some() && t.jti.as_ref() == id_jti;
    let iss_is_id = t.iss.is_some() && t.iss.as_ref() == id_iss;
    let flags = flag(id_jti.is_none(), FINGERPRINT)
        | flag(t.jti.is_some(), JTI)
        | flag(jti_is_id, JTI_IS_ID)
        | flag(t.iss.is_some(), ISS)
        | flag(iss_is_id, ISS_IS_ID)
        | flag(t.sub.is_some(), SUB)
        | flag(t.client_id.is_some(), CLIENT_ID)
        | flag(t.aud.is_some(), AUD)
        | flag(t.kid.is_some(), KID)
        | flag(t.alg.is_some(), ALG)
        | flag(t.exp.is_some(), EXP)
        | flag(t.iat.is_some(), IAT)
        | flag(t.nbf.is_some(), NBF)
        | flag(t.detail.is_some(), DETAIL)
        | flag(t.sha256.is_some(), SHA256)
        | flag(t.vouched, VOUCHED);
    put_u(out, flags);
    match &t.id {
        TokenId::Jti { iss, jti } => {
            put_s(out, iss);
            put_s(out, jti);
        }
        TokenId::Fingerprint(f) => put_s(out, f),
    }
    put_opt(out, t.jti.as_deref().filter(|_| !jti_is_id));
    put_opt(out, t.iss.as_deref().filter(|_| !iss_is_id));
    for s in [&t.sub, &t.client_id, &t.aud, &t.kid, &t.alg] {
        put_opt(out, s.as_deref());
    }
    for n in [t.exp, t.iat, t.nbf].into_iter().flatten() {
        put_i(out, n);
    }
    put_opt(out, t.detail.as_deref());
    put_opt(out, t.sha256.as_deref());
}

/// Append the watermark record of `marks` to `out`.
pub fn encode_marks(marks: &[(String, EventTime)], out: &mut Vec<u8>) {
    out.extend_from_slice(&[VERSION, MARKS]);
    put_u(out, marks.len() as u64);
    for (s, t) in marks {
        put_s(out, s);
        put_i(out, t.0);
    }
}
