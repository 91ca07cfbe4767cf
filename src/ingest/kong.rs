//! Kong logging plugins (http-log, file-log, kafka-log): one JSON object or a
//! JSON array of them per line. Kong redacts `Authorization`; claims come from
//! a top-level `jwt` object added with `custom_fields_by_lua` (README).

use serde::Deserialize;

use super::fields::{Header, HeaderList, Num, Parsed, Str, TimeVal};
use super::IngestError;
use crate::token::RawClaims;

const P: &str = "kong";

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    started_at: Option<TimeVal<'a>>,
    #[serde(borrow)]
    client_ip: Option<Str<'a>>,
    #[serde(borrow)]
    request: Option<Request<'a>>,
    #[serde(default)]
    response: Option<Response>,
    #[serde(borrow, default)]
    service: Option<Named<'a>>,
    #[serde(borrow, default)]
    jwt: Option<RawClaims<'a>>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    method: Option<Str<'a>>,
    #[serde(borrow)]
    uri: Option<Str<'a>>,
    #[serde(default)]
    size: Num,
    #[serde(borrow, default)]
    id: Option<Str<'a>>,
    #[serde(borrow, default)]
    headers: Headers<'a>,
}

#[derive(Deserialize, Default)]
struct Headers<'a> {
    #[serde(borrow, rename = "user-agent", default)]
    user_agent: Header<'a>,
    #[serde(borrow, default)]
    authorization: Header<'a>,
    #[serde(borrow, rename = "x-forwarded-for", default)]
    xff: HeaderList<'a>,
    #[serde(borrow, rename = "x-request-id", default)]
    request_id: Header<'a>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: Num,
    #[serde(default)]
    size: Num,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
}

/// One Kong record (the ingestor splits kafka-log batches into records).
pub fn parse<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), IngestError> {
    let l: Line<'a> = super::common::from_json(line, P)?;
    emit(convert(l)?)
}

/// Most records a batch takes in one pass (Kong's kafka-log batches hold
/// tens to hundreds); a longer array goes record by record.
const FAST_BATCH_MAX: usize = 4096;

/// A kafka-log batch (a JSON array of records) in one pass: each record is
/// converted as it is read and the first bad one stops the pass, so memory
/// is the converted records, never a vector of every raw record first.
/// `Err` when any record is bad (or the batch is over [`FAST_BATCH_MAX`]):
/// the caller then splits the batch and parses each record on its own, so
/// a bad record costs only itself (nothing is emitted here before every
/// record converted).
pub fn parse_batch<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), ()> {
    struct Batch<'a>(Vec<Parsed<'a>>);
    impl<'de> serde::Deserialize<'de> for Batch<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Batch<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an array of Kong records")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Batch<'de>, A::Error> {
                    use serde::de::Error;
                    let mut out = Vec::new();
                    while let Some(l) = seq.next_element::<Line<'de>>()? {
                        if out.len() == FAST_BATCH_MAX {
                            return Err(A::Error::custom("long batch"));
                        }
                        out.push(convert(l).map_err(|_| A::Error::custom("bad record"))?);
                    }
                    Ok(Batch(out))
                }
            }
            d.deserialize_seq(V)
        }
    }
    let Batch(parsed) = sonic_rs::from_slice(line).map_err(|_| ())?;
    for p in parsed {
        emit(p).map_err(|_| ())?;
    }
    Ok(())
}

fn convert(l: Line<'_>) -> Result<Parsed<'_>, IngestError> {
    let time =
        l.started_at.ok_or(IngestError::Missing { profile: P, field: "started_at" })?.to_time(P, "started_at")?;
    let req = l.request.ok_or(IngestError::Missing { profile: P, field: "request" })?;
    let resp = l.response.unwrap_or(Response { status: Num(None), size: Num(None) });
    Ok(Parsed {
        time,
        peer: l.client_ip,
        xff: req.headers.xff.0,
        user_agent: req.headers.user_agent.0,
        method: req.method,
        path: req.uri,
        status: resp.status.status(),
        request_id: req.id.or(req.headers.request_id.0),
        gateway: l.service.and_then(|s| s.name),
        bytes: resp.size.bytes().or(req.size.bytes()),
        claims: l.jwt,
        authorization: req.headers.authorization.0,
        ..Default::default()
    })
}
