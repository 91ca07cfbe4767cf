//! nginx with the `log_format tokenhound escape=json` the README documents:
//! `$msec` or `$time_iso8601`, `$remote_addr`, and either NGINX Plus
//! `$jwt_claim_*` variables under `jwt` or `$http_authorization`.

use serde::Deserialize;

use super::common::json_err;
use super::fields::{Num, Parsed, Str, TimeVal};
use super::IngestError;
use crate::token::RawClaims;

const P: &str = "nginx";

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    msec: Option<TimeVal<'a>>,
    #[serde(borrow, default)]
    time_iso8601: Option<TimeVal<'a>>,
    #[serde(borrow)]
    remote_addr: Option<Str<'a>>,
    #[serde(borrow, alias = "http_x_forwarded_for")]
    xff: Option<Str<'a>>,
    #[serde(borrow, alias = "request_method")]
    method: Option<Str<'a>>,
    #[serde(borrow)]
    uri: Option<Str<'a>>,
    #[serde(default)]
    status: Num,
    #[serde(default, alias = "body_bytes_sent")]
    bytes_sent: Num,
    #[serde(borrow, alias = "http_user_agent")]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    request_id: Option<Str<'a>>,
    #[serde(borrow)]
    host: Option<Str<'a>>,
    #[serde(borrow, alias = "http_authorization")]
    authorization: Option<Str<'a>>,
    #[serde(borrow, default)]
    jwt: Option<RawClaims<'a>>,
}

pub fn parse<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), IngestError> {
    let l: Line<'a> = serde_json::from_slice(line).map_err(|e| json_err(P, e))?;
    let time = match (l.msec, l.time_iso8601) {
        (Some(t), _) => t.to_time(P, "msec")?,
        (None, Some(t)) => t.to_time(P, "time_iso8601")?,
        (None, None) => return Err(IngestError::Missing { profile: P, field: "msec" }),
    };
    emit(Parsed {
        time,
        peer: l.remote_addr,
        xff: l.xff,
        user_agent: l.user_agent,
        method: l.method,
        path: l.uri,
        status: l.status.status(),
        request_id: l.request_id,
        gateway: l.host,
        bytes: l.bytes_sent.bytes(),
        claims: l.jwt,
        authorization: l.authorization,
        lenient_claims: true,
        ..Default::default()
    })
}
