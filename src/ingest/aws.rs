//! AWS API Gateway JSON access logs, in the format the README documents
//! (`$context.identity.sourceIp`, `$context.requestTimeEpoch`,
//! `$context.authorizer.claims.*` under `claims`). AWS writes every variable
//! as a string and absent ones as `-`, so claims are read leniently.

use serde::Deserialize;

use super::common::json_err;
use super::fields::{Num, Parsed, Str, TimeVal};
use super::IngestError;
use crate::token::RawClaims;

const P: &str = "aws-apigw";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    #[serde(borrow)]
    request_time_epoch: Option<TimeVal<'a>>,
    #[serde(borrow, alias = "ip")]
    source_ip: Option<Str<'a>>,
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    http_method: Option<Str<'a>>,
    #[serde(borrow)]
    resource_path: Option<Str<'a>>,
    #[serde(borrow)]
    path: Option<Str<'a>>,
    #[serde(default)]
    status: Num,
    #[serde(default)]
    response_length: Num,
    #[serde(borrow)]
    request_id: Option<Str<'a>>,
    #[serde(borrow)]
    stage: Option<Str<'a>>,
    #[serde(borrow)]
    api_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    claims: Option<RawClaims<'a>>,
}

pub fn parse<'a>(line: &'a [u8], emit: &mut super::Emit<'a, '_>) -> Result<(), IngestError> {
    let l: Line<'a> = serde_json::from_slice(line).map_err(|e| json_err(P, e))?;
    let time = l
        .request_time_epoch
        .ok_or(IngestError::Missing { profile: P, field: "requestTimeEpoch" })?
        .to_time(P, "requestTimeEpoch")?;
    // resourcePath is the route template (/orders/{id}): better for rules.
    let path = l.resource_path.filter(|p| p != "-").or(l.path);
    emit(Parsed {
        time,
        peer: l.source_ip,
        user_agent: l.user_agent,
        method: l.http_method,
        path,
        status: l.status.status(),
        request_id: l.request_id,
        gateway: l.api_id.or(l.stage),
        bytes: l.response_length.bytes(),
        claims: l.claims,
        lenient_claims: true,
        ..Default::default()
    })
}
