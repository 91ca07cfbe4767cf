//! One finding as an OCSF 1.8.0 Detection Finding (class 2004, activity 1
//! Create, type 200401), valid against the class's JSON Schema with the
//! profiles it declares: `host` (for `actor`) and `datetime` (for `time_dt`).
//! `metadata.uid` is the finding uid (stable: a consumer dedupes on it);
//! `observables` name the token id, the user and every address and client
//! of the evidence, with their OCSF type ids. What has no OCSF home (the
//! response asked for, the token's verdict, detector measurements, a forged
//! token's claims) goes under `unmapped.tokenhound` (docs/alerts.md).

mod doc;

use doc::*;
use serde_json::Value;

use crate::model::{Evidence, Finding, Response};

pub const OCSF_VERSION: &str = "1.8.0";

/// The profiles a finding about a token declares.
pub const OCSF_PROFILES: [&str; 2] = ["host", "datetime"];

/// The profiles of tokenhound's alerts about itself (revocation storm, hook
/// disabled): no actor, so no `host`.
pub const OCSF_SYSTEM_PROFILES: [&str; 1] = ["datetime"];

/// OCSF 1.8.0 observable type ids tokenhound uses.
mod observable {
    pub const IP_ADDRESS: u8 = 2;
    pub const RESOURCE_UID: u8 = 10;
    pub const COUNTRY: u8 = 14;
    pub const USER_AGENT: u8 = 16;
    pub const USER_UID: u8 = 31;
}

/// The observables of a finding: the token id, the (trusted) user, and each
/// distinct address, country and user agent of its evidence.
fn observables<'a>(f: &'a Finding, id: &'a str, evidences: &'a [EvidenceDoc<'a>]) -> Vec<Observable<'a>> {
    let obs = |name, type_id, type_name, value| Observable { name, type_name, type_id, value };
    let mut out = vec![obs("actor.session.uid", observable::RESOURCE_UID, "Resource UID", id)];
    if let Some(sub) = f.token.trusted_sub() {
        out.push(obs("actor.user.uid", observable::USER_UID, "User Object: uid", sub));
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in evidences {
        let src = &e.src_endpoint;
        let found = [
            (src.ip.as_deref(), "evidences.src_endpoint.ip", observable::IP_ADDRESS, "IP Address"),
            (
                src.location.as_ref().and_then(|l| l.country),
                "evidences.src_endpoint.location.country",
                observable::COUNTRY,
                "Country",
            ),
            (e.http_request.user_agent, "evidences.http_request.user_agent", observable::USER_AGENT, "HTTP User-Agent"),
        ];
        for (value, name, type_id, type_name) in found {
            if let Some(v) = value.filter(|v| seen.insert((type_id, *v))) {
                out.push(obs(name, type_id, type_name, v));
            }
        }
    }
    out
}

/// An ATT&CK technique's name, tactic uid and tactic, for the tags rules
/// use (`None`: a tag this table does not name).
fn technique(uid: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match uid {
        "T1550.001" => ("Use Alternate Authentication Material: Application Access Token", "TA0005", "Defense Evasion"),
        "T1550" => ("Use Alternate Authentication Material", "TA0005", "Defense Evasion"),
        "T1528" => ("Steal Application Access Token", "TA0006", "Credential Access"),
        "T1539" => ("Steal Web Session Cookie", "TA0006", "Credential Access"),
        "T1606" => ("Forge Web Credentials", "TA0006", "Credential Access"),
        "T1606.001" => ("Forge Web Credentials: Web Cookies", "TA0006", "Credential Access"),
        "T1078" => ("Valid Accounts", "TA0001", "Initial Access"),
        _ => return None,
    })
}

/// A technique tag as an OCSF attack: the technique, named with its tactic
/// when the table knows it.
fn attack(uid: &str) -> Attack<'_> {
    let known = technique(uid);
    Attack {
        tactic: known.map(|(_, uid, name)| Tactic { name, uid }),
        technique: Technique { name: known.map(|k| k.0), uid },
    }
}

/// `http_request.http_method` values OCSF 1.8.0 allows.
const HTTP_METHODS: [&str; 9] = ["OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH"];

fn evidence(e: &Evidence) -> EvidenceDoc<'_> {
    let u = &e.used;
    let g = u.geo.as_deref();
    let coords = g.and_then(|g| g.lat.zip(g.lon));
    let location = g.map(|g| Location {
        city: g.city.as_deref(),
        country: g.country.as_deref(),
        lat: coords.map(|c| c.0),
        long: coords.map(|c| c.1),
    });
    let method = &*u.method;
    let standard = HTTP_METHODS.contains(&method);
    EvidenceDoc {
        data: EvidenceData {
            http_method: (!standard).then_some(method),
            source: u.source.to_string(),
            status_code: u.status,
            time: u.time.as_millis(),
            time_dt: u.time.to_rfc3339(),
        },
        http_request: HttpRequest {
            http_method: standard.then_some(method),
            url: Url { path: &u.path },
            user_agent: u.user_agent.as_deref(),
        },
        name: e.role,
        src_endpoint: Endpoint {
            autonomous_system: g.and_then(|g| Some(AutonomousSystem { name: g.as_org.as_deref(), number: g.asn? })),
            ip: u.ip.map(|ip| ip.to_string()),
            location: location.filter(|l| l.city.is_some() || l.country.is_some() || l.lat.is_some()),
        },
    }
}

/// Build a finding's document and hand it to `then`.
fn with_doc<R>(f: &Finding, version: &str, then: impl FnOnce(&Doc<'_>) -> R) -> R {
    let t = &f.token;
    let id = t.id.display_id();
    let evidences: Vec<EvidenceDoc<'_>> = f.evidence.iter().map(evidence).collect();
    let observables = observables(f, &id, &evidences);
    let first = f.evidence.iter().map(|e| e.used.time).min().unwrap_or(f.time);
    let remediation = match f.response {
        Response::Alert => None,
        Response::RevokeSubject => Some("Revoke every token of the subject and force re-authentication"),
        _ => Some("Revoke the token"),
    };
    let claimed = (!t.trusted()).then(|| Claimed {
        client_id: t.client_id.as_deref(),
        iss: t.iss.as_deref(),
        jti: t.jti.as_deref(),
        sub: t.sub.as_deref(),
    });
    let doc = Doc {
        activity_id: 1,
        activity_name: "Create",
        actor: Actor {
            app_uid: t.client_id.as_deref().filter(|_| t.trusted()),
            session: Session {
                created_time: t.iat.map(|s| s.saturating_mul(1000)),
                expiration_time: t.exp.map(|s| s.saturating_mul(1000)),
                issuer: t.iss.as_deref(),
                uid: &id,
            },
            user: t.trusted_sub().map(|uid| User { uid }),
        },
        category_name: "Findings",
        category_uid: 2,
        class_name: "Detection Finding",
        class_uid: 2004,
        confidence: ["Low", "Medium", "High"][(f.confidence.clamp(1, 3) - 1) as usize],
        confidence_id: f.confidence,
        evidences: &evidences,
        finding_info: FindingInfo {
            analytic: Analytic { name: &f.rule_title, type_name: "Rule", type_id: 1, uid: &f.rule_id },
            attacks: f.techniques.iter().map(|t| attack(t)).collect(),
            desc: &f.message,
            first_seen_time: first.as_millis(),
            last_seen_time: f.time.as_millis(),
            title: &f.rule_title,
            uid: &f.uid,
        },
        message: &f.message,
        metadata: Metadata {
            product: Product { name: "tokenhound", vendor_name: "tokenhound", version },
            profiles: OCSF_PROFILES,
            uid: &f.uid,
            version: OCSF_VERSION,
        },
        observables: &observables,
        remediation: remediation.map(|desc| Remediation { desc }),
        severity: ["Informational", "Low", "Medium", "High", "Critical"][f.severity.ocsf_id() as usize - 1],
        severity_id: f.severity.ocsf_id(),
        status: "New",
        status_id: 1,
        time: f.time.as_millis(),
        time_dt: f.time.to_rfc3339(),
        type_name: "Detection Finding: Create",
        type_uid: 200401,
        unmapped: Unmapped {
            tokenhound: Tokenhound {
                claimed,
                details: &f.details,
                response: f.response.as_str(),
                token_verdict: t.verdict.as_str(),
                token_vouched: t.vouched,
            },
        },
    };
    then(&doc)
}

/// The OCSF JSON of a finding. `version` is tokenhound's version.
pub fn ocsf_json(f: &Finding, version: &str) -> Value {
    with_doc(f, version, |d| serde_json::to_value(d).expect("an alert is plain data"))
}

/// The alert's JSON bytes, written straight from the finding (the hot path
/// of an alert storm: no `Value` tree). The same bytes as `ocsf_json`'s.
pub fn write_ocsf(w: impl std::io::Write, f: &Finding, version: &str) -> serde_json::Result<()> {
    with_doc(f, version, |d| serde_json::to_writer(w, d))
}

/// [`write_ocsf`] into a fresh buffer.
pub fn ocsf_bytes(f: &Finding, version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    write_ocsf(&mut out, f, version).expect("writing to a Vec cannot fail");
    out
}

#[cfg(test)]
mod tests;
