//! A finding as an Elastic Common Schema (8.x) alert document, for SOCs on
//! Elastic: `event.kind: alert`, `rule.*`, `threat.*` (ATT&CK), `user.id`,
//! and the triggering use as `source.*`, `user_agent`, `http`, `url`.
//! tokenhound specifics (token id, evidence, measurements) under `tokenhound`.

use serde_json::{json, Value};

use crate::model::{Evidence, Finding};

fn endpoint(e: &Evidence) -> Value {
    let u = &e.used;
    let mut src = json!({});
    if let Some(ip) = u.ip {
        src["ip"] = json!(ip.to_string());
    }
    if let Some(g) = &u.geo {
        let mut geo = json!({});
        if let Some(c) = &g.city {
            geo["city_name"] = json!(c);
        }
        if let Some(c) = &g.country {
            geo["country_iso_code"] = json!(c);
        }
        if let (Some(lat), Some(lon)) = (g.lat, g.lon) {
            geo["location"] = json!({ "lat": lat, "lon": lon });
        }
        src["geo"] = geo;
        if let Some(a) = g.asn {
            src["as"] = json!({ "number": a, "organization": { "name": g.as_org } });
        }
    }
    src
}

pub fn ecs_json(f: &Finding, version: &str) -> Value {
    let last = f.evidence.last();
    let t = &f.token;
    let techniques: Vec<Value> = f.techniques.iter().map(|t| json!({ "id": t })).collect();
    let mut v = json!({
        "@timestamp": f.time.to_rfc3339(),
        "ecs": { "version": "8.11.0" },
        "message": f.message,
        "event": {
            "kind": "alert",
            "category": ["authentication", "threat"],
            "type": ["indicator"],
            "id": f.uid,
            "severity": f.severity.ocsf_id(),
            "dataset": "tokenhound.finding",
            "module": "tokenhound",
            "reason": f.message,
        },
        "rule": { "id": &*f.rule_id, "name": &*f.rule_title, "ruleset": "tokenhound", "version": version },
        "threat": { "framework": "MITRE ATT&CK", "technique": techniques },
        "tokenhound": {
            "token": { "id": t.id.display_id(), "issuer": t.iss, "expires": t.exp, "verdict": t.verdict.as_str() },
            "response": f.response.as_str(),
            "confidence": f.confidence,
            "details": f.details,
            "evidence": f.evidence.iter().map(|e| json!({
                "role": e.role,
                "time": e.used.time.to_rfc3339(),
                "source": endpoint(e),
                "method": &*e.used.method,
                "path": &*e.used.path,
                "status": e.used.status,
                "user_agent": e.used.user_agent.as_deref(),
                "position": e.used.source.to_string(),
            })).collect::<Vec<_>>(),
        },
    });
    if let Some(sub) = t.trusted_sub() {
        v["user"] = json!({ "id": sub });
    }
    if !t.trusted() {
        v["tokenhound"]["claimed"] = json!({ "sub": t.sub, "iss": t.iss, "jti": t.jti });
    }
    if let Some(e) = last {
        v["source"] = endpoint(e);
        v["http"] = json!({ "request": { "method": &*e.used.method }, "response": { "status_code": e.used.status } });
        v["url"] = json!({ "path": &*e.used.path });
        if let Some(ua) = &e.used.user_agent {
            v["user_agent"] = json!({ "original": ua });
        }
    }
    v
}
