//! Envoy / Istio JSON access logs (`json_format`), with jwt_authn claims from
//! `payload_in_metadata` logged as `jwt` (README has the format string).

use serde::Deserialize;

use super::common::json_err;
use super::fields::{Num, Parsed, Str, TimeVal};
use super::IngestError;
use crate::token::RawClaims;

const P: &str = "envoy";

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    start_time: Option<TimeVal<'a>>,
    #[serde(borrow)]
    method: Option<Str<'a>>,
    #[serde(borrow)]
    path: Option<Str<'a>>,
    #[serde(default)]
    response_code: Num,
    #[serde(default)]
    bytes_sent: Num,
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    x_forwarded_for: Option<Str<'a>>,
    #[serde(borrow)]
    downstream_remote_address: Option<Str<'a>>,
    #[serde(borrow)]
    request_id: Option<Str<'a>>,
    #[serde(borrow)]
    route_name: Option<Str<'a>>,
    #[serde(borrow)]
    upstream_cluster: Option<Str<'a>>,
    #[serde(borrow)]
    authorization: Option<Str<'a>>,
    #[serde(borrow, alias = "jwt_payload", default)]
    jwt: Option<RawClaims<'a>>,
}

pub fn parse<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), IngestError> {
    let l: Line<'a> = serde_json::from_slice(line).map_err(|e| json_err(P, e))?;
    let time =
        l.start_time.ok_or(IngestError::Missing { profile: P, field: "start_time" })?.to_time(P, "start_time")?;
    emit(Parsed {
        time,
        peer: l.downstream_remote_address,
        xff: l.x_forwarded_for,
        user_agent: l.user_agent,
        method: l.method,
        path: l.path,
        status: l.response_code.status(),
        request_id: l.request_id,
        gateway: l.route_name.or(l.upstream_cluster),
        bytes: l.bytes_sent.bytes(),
        claims: l.jwt,
        authorization: l.authorization,
        ..Default::default()
    })
}
