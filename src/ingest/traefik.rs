//! Traefik JSON access log (`accessLog.format=json`). Traefik does not decode
//! JWTs: keep `Authorization` (`fields.headers.names.Authorization=keep`) so
//! tokenhound can, or have a forward-auth service add claim headers.

use serde::Deserialize;

use super::common::json_err;
use super::fields::{Num, Parsed, Str, TimeVal};
use super::IngestError;

const P: &str = "traefik";

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, rename = "StartUTC")]
    start_utc: Option<TimeVal<'a>>,
    #[serde(borrow, rename = "ClientHost")]
    client_host: Option<Str<'a>>,
    #[serde(borrow, rename = "ClientAddr")]
    client_addr: Option<Str<'a>>,
    #[serde(borrow, rename = "RequestMethod")]
    method: Option<Str<'a>>,
    #[serde(borrow, rename = "RequestPath")]
    path: Option<Str<'a>>,
    #[serde(rename = "DownstreamStatus", default)]
    status: Num,
    #[serde(rename = "DownstreamContentSize", default)]
    size: Num,
    #[serde(borrow, rename = "request_User-Agent")]
    user_agent: Option<Str<'a>>,
    #[serde(borrow, rename = "request_Authorization")]
    authorization: Option<Str<'a>>,
    #[serde(borrow, rename = "request_X-Forwarded-For")]
    xff: Option<Str<'a>>,
    #[serde(borrow, rename = "request_X-Request-Id")]
    request_id: Option<Str<'a>>,
    #[serde(borrow, rename = "RouterName")]
    router: Option<Str<'a>>,
}

pub fn parse<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), IngestError> {
    let l: Line<'a> = serde_json::from_slice(line).map_err(|e| json_err(P, e))?;
    let time = l.start_utc.ok_or(IngestError::Missing { profile: P, field: "StartUTC" })?.to_time(P, "StartUTC")?;
    emit(Parsed {
        time,
        peer: l.client_host.or(l.client_addr),
        xff: l.xff,
        user_agent: l.user_agent,
        method: l.method,
        path: l.path,
        status: l.status.status(),
        request_id: l.request_id,
        gateway: l.router,
        bytes: l.size.bytes(),
        authorization: l.authorization,
        ..Default::default()
    })
}
