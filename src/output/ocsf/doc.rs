//! The OCSF Detection Finding, typed (built in `super`).

use serde::Serialize;
use serde_json::{Map, Value};

// The document, typed. serde writes a struct's fields in the order they
// are declared, and `to_value` sorts them (serde_json's map is a BTreeMap):
// every struct below declares its fields in byte order of their names, so
// the alert written directly is the same bytes as `ocsf_json(..).to_string()`
// (test: `typed_alert_is_the_value_s_bytes`).

#[derive(Serialize)]
pub struct Observable<'a> {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub type_id: u8,
    pub value: &'a str,
}

#[derive(Serialize)]
pub struct Attack<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tactic: Option<Tactic>,
    pub technique: Technique<'a>,
}

#[derive(Serialize)]
pub struct Tactic {
    pub name: &'static str,
    pub uid: &'static str,
}

#[derive(Serialize)]
pub struct Technique<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    pub uid: &'a str,
}

#[derive(Serialize)]
pub struct EvidenceDoc<'a> {
    pub data: EvidenceData<'a>,
    pub http_request: HttpRequest<'a>,
    pub name: &'static str,
    pub src_endpoint: Endpoint<'a>,
}

#[derive(Serialize)]
pub struct EvidenceData<'a> {
    // OCSF enumerates the methods; anything else the client sent (it chose
    // the bytes) is kept as evidence data, not as an invalid http_method
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<&'a str>,
    pub source: String,
    pub status_code: u16,
    pub time: i64,
    pub time_dt: String,
}

#[derive(Serialize)]
pub struct HttpRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<&'a str>,
    pub url: Url<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
}

#[derive(Serialize)]
pub struct Url<'a> {
    pub path: &'a str,
}

#[derive(Serialize)]
pub struct Endpoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autonomous_system: Option<AutonomousSystem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location<'a>>,
}

#[derive(Serialize)]
pub struct AutonomousSystem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub number: u32,
}

#[derive(Serialize)]
pub struct Location<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long: Option<f64>,
}

#[derive(Serialize)]
pub struct Doc<'a> {
    pub activity_id: u8,
    pub activity_name: &'static str,
    pub actor: Actor<'a>,
    pub category_name: &'static str,
    pub category_uid: u8,
    pub class_name: &'static str,
    pub class_uid: u16,
    pub confidence: &'static str,
    pub confidence_id: u8,
    pub evidences: &'a [EvidenceDoc<'a>],
    pub finding_info: FindingInfo<'a>,
    pub message: &'a str,
    pub metadata: Metadata<'a>,
    pub observables: &'a [Observable<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    pub severity: &'static str,
    pub severity_id: u8,
    pub status: &'static str,
    pub status_id: u8,
    pub time: i64,
    pub time_dt: String,
    pub type_name: &'static str,
    pub type_uid: u32,
    pub unmapped: Unmapped<'a>,
}

#[derive(Serialize)]
pub struct Actor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<&'a str>,
    pub session: Session<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
}

#[derive(Serialize)]
pub struct Session<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<&'a str>,
    pub uid: &'a str,
}

#[derive(Serialize)]
pub struct User<'a> {
    pub uid: &'a str,
}

#[derive(Serialize)]
pub struct FindingInfo<'a> {
    pub analytic: Analytic<'a>,
    pub attacks: Vec<Attack<'a>>,
    pub desc: &'a str,
    pub first_seen_time: i64,
    pub last_seen_time: i64,
    pub title: &'a str,
    pub uid: &'a str,
}

#[derive(Serialize)]
pub struct Analytic<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub type_id: u8,
    pub uid: &'a str,
}

#[derive(Serialize)]
pub struct Metadata<'a> {
    pub product: Product<'a>,
    pub profiles: [&'static str; 2],
    pub uid: &'a str,
    pub version: &'static str,
}

#[derive(Serialize)]
pub struct Product<'a> {
    pub name: &'static str,
    pub vendor_name: &'static str,
    pub version: &'a str,
}

#[derive(Serialize)]
pub struct Remediation {
    pub desc: &'static str,
}

#[derive(Serialize)]
pub struct Unmapped<'a> {
    pub tokenhound: Tokenhound<'a>,
}

#[derive(Serialize)]
pub struct Tokenhound<'a> {
    // a forged token's claims are the sender's words: kept here, never the actor
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed: Option<Claimed<'a>>,
    pub details: &'a Map<String, Value>,
    pub response: &'static str,
    pub token_verdict: &'static str,
    pub token_vouched: bool,
}

#[derive(Serialize)]
pub struct Claimed<'a> {
    pub client_id: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub jti: Option<&'a str>,
    pub sub: Option<&'a str>,
}
