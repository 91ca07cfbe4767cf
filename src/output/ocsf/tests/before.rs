//! The OCSF builder as it was before the typed document (commit 2e20018,
//! `src/output/ocsf.rs`): the oracle the typed alert is held to, so a key
//! skipped or kept in a new place fails a test, not a SOC's parser.

use serde_json::{json, Map, Value};

use super::super::{observable, technique, HTTP_METHODS, OCSF_PROFILES, OCSF_VERSION};
use crate::model::{Evidence, Finding, Response};

/// The observables of a finding: the token id, the (trusted) user, and each
/// distinct address, country and user agent of its evidence.
fn observables(f: &Finding) -> Vec<Value> {
    let mut out = vec![
        json!({ "name": "actor.session.uid", "type_id": observable::RESOURCE_UID, "type": "Resource UID", "value": f.token.id.display_id() }),
    ];
    if let Some(sub) = f.token.trusted_sub() {
        out.push(json!({ "name": "actor.user.uid", "type_id": observable::USER_UID, "type": "User Object: uid", "value": sub }));
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &f.evidence {
        let u = &e.used;
        let mut add = |name: &str, type_id: u8, type_name: &str, value: String| {
            if seen.insert((type_id, value.clone())) {
                out.push(json!({ "name": name, "type_id": type_id, "type": type_name, "value": value }));
            }
        };
        if let Some(ip) = u.ip {
            add("evidences.src_endpoint.ip", observable::IP_ADDRESS, "IP Address", ip.to_string());
        }
        if let Some(c) = u.geo.as_ref().and_then(|g| g.country.as_deref()) {
            add("evidences.src_endpoint.location.country", observable::COUNTRY, "Country", c.to_string());
        }
        if let Some(ua) = &u.user_agent {
            add("evidences.http_request.user_agent", observable::USER_AGENT, "HTTP User-Agent", ua.to_string());
        }
    }
    out
}

/// ATT&CK technique names and tactics for the tags rules use (the table
/// itself is the one the typed document reads: data, not shape).
fn attack(uid: &str) -> Value {
    let (name, tactic_uid, tactic) = technique(uid).unwrap_or(("", "", ""));
    let mut t = json!({ "technique": { "uid": uid } });
    if !name.is_empty() {
        t["technique"]["name"] = json!(name);
        t["tactic"] = json!({ "uid": tactic_uid, "name": tactic });
    }
    t
}

fn evidence(e: &Evidence) -> Value {
    let u = &e.used;
    let mut src = Map::new();
    if let Some(ip) = u.ip {
        src.insert("ip".into(), json!(ip.to_string()));
    }
    if let Some(g) = &u.geo {
        let mut loc = Map::new();
        if let Some(c) = &g.city {
            loc.insert("city".into(), json!(c));
        }
        if let Some(c) = &g.country {
            loc.insert("country".into(), json!(c));
        }
        if let (Some(lat), Some(lon)) = (g.lat, g.lon) {
            loc.insert("lat".into(), json!(lat));
            loc.insert("long".into(), json!(lon));
        }
        if !loc.is_empty() {
            src.insert("location".into(), Value::Object(loc));
        }
        if let Some(a) = g.asn {
            let mut asys = json!({ "number": a });
            if let Some(org) = &g.as_org {
                asys["name"] = json!(org);
            }
            src.insert("autonomous_system".into(), asys);
        }
    }
    let mut http = json!({ "url": { "path": &*u.path } });
    let mut data = json!({
        "time": u.time.as_millis(),
        "time_dt": u.time.to_rfc3339(),
        "status_code": u.status,
        "source": u.source.to_string(),
    });
    // OCSF enumerates the methods; anything else the client sent (it chose
    // the bytes) is kept as evidence data, not as an invalid http_method
    if HTTP_METHODS.contains(&&*u.method) {
        http["http_method"] = json!(&*u.method);
    } else {
        data["http_method"] = json!(&*u.method);
    }
    if let Some(ua) = &u.user_agent {
        http["user_agent"] = json!(ua);
    }
    json!({ "name": e.role, "src_endpoint": src, "http_request": http, "data": data })
}

/// The OCSF JSON of a finding. `version` is tokenhound's version.
pub fn ocsf_json_before(f: &Finding, version: &str) -> Value {
    let sev = ["Informational", "Low", "Medium", "High", "Critical"][f.severity.ocsf_id() as usize - 1];
    let conf = ["Low", "Medium", "High"][(f.confidence.clamp(1, 3) - 1) as usize];
    let t = &f.token;
    let first = f.evidence.iter().map(|e| e.used.time).min().unwrap_or(f.time);
    let mut session = json!({ "uid": t.id.display_id() });
    if let Some(iss) = &t.iss {
        session["issuer"] = json!(iss);
    }
    if let Some(exp) = t.exp {
        session["expiration_time"] = json!(exp.saturating_mul(1000));
    }
    if let Some(iat) = t.iat {
        session["created_time"] = json!(iat.saturating_mul(1000));
    }
    let mut actor = json!({ "session": session });
    // a forged token's claims are the sender's words: never the actor
    if let Some(sub) = t.trusted_sub() {
        actor["user"] = json!({ "uid": sub });
    }
    if let (true, Some(c)) = (t.trusted(), &t.client_id) {
        actor["app_uid"] = json!(c);
    }
    let mut v = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": f.time.as_millis(),
        "time_dt": f.time.to_rfc3339(),
        "severity_id": f.severity.ocsf_id(),
        "severity": sev,
        "status_id": 1,
        "status": "New",
        "confidence_id": f.confidence,
        "confidence": conf,
        "message": f.message,
        "metadata": {
            "product": { "name": "tokenhound", "vendor_name": "tokenhound", "version": version },
            "version": OCSF_VERSION,
            "profiles": OCSF_PROFILES,
            "uid": f.uid,
        },
        "observables": observables(f),
        "finding_info": {
            "uid": f.uid,
            "title": &*f.rule_title,
            "desc": f.message,
            "analytic": { "uid": &*f.rule_id, "name": &*f.rule_title, "type_id": 1, "type": "Rule" },
            "attacks": f.techniques.iter().map(|t| attack(t)).collect::<Vec<_>>(),
            "first_seen_time": first.as_millis(),
            "last_seen_time": f.time.as_millis(),
        },
        "actor": actor,
        "evidences": f.evidence.iter().map(evidence).collect::<Vec<_>>(),
        "unmapped": { "tokenhound": {
            "response": f.response.as_str(),
            "token_verdict": t.verdict.as_str(),
            "token_vouched": t.vouched,
            "details": f.details,
        }},
    });
    if !t.trusted() {
        v["unmapped"]["tokenhound"]["claimed"] =
            json!({ "sub": t.sub, "iss": t.iss, "jti": t.jti, "client_id": t.client_id });
    }
    if f.response != Response::Alert {
        let what = match f.response {
            Response::RevokeSubject => "Revoke every token of the subject and force re-authentication",
            _ => "Revoke the token",
        };
        v["remediation"] = json!({ "desc": what });
    }
    v
}
