//! An [`AccessEvent`] as a line of tokenhound's own NDJSON (the `tokenhound`
//! ingest profile reads it back): for golden tests and exports. Claims come
//! from the token identity; the raw token is never part of it.

use serde_json::{json, Map, Value};

use crate::model::{AccessEvent, TokenId};

pub fn event_json(ev: &AccessEvent) -> Value {
    let mut v = Map::new();
    v.insert("time".into(), json!(ev.time.to_rfc3339()));
    if let Some(ip) = ev.client_ip {
        v.insert("client_ip".into(), json!(ip.to_string()));
    }
    if let Some(ua) = &ev.user_agent {
        v.insert("user_agent".into(), json!(ua));
    }
    v.insert("method".into(), json!(ev.method));
    v.insert("path".into(), json!(ev.path));
    v.insert("status".into(), json!(ev.status));
    if let Some(r) = &ev.request_id {
        v.insert("request_id".into(), json!(r));
    }
    if let Some(g) = &ev.gateway {
        v.insert("gateway".into(), json!(g));
    }
    if let Some(b) = ev.bytes {
        v.insert("bytes".into(), json!(b));
    }
    if let Some(t) = &ev.token {
        let mut c = Map::new();
        let mut put = |k: &str, val: Value| {
            if !val.is_null() {
                c.insert(k.into(), val);
            }
        };
        put("iss", json!(t.iss));
        if let TokenId::Jti { jti, .. } = &t.id {
            put("jti", json!(jti));
        }
        put("sub", json!(t.sub));
        put("client_id", json!(t.client_id));
        put("aud", json!(t.aud));
        put("kid", json!(t.kid));
        put("alg", json!(t.alg));
        put("exp", json!(t.exp));
        put("iat", json!(t.iat));
        put("nbf", json!(t.nbf));
        v.insert("claims".into(), Value::Object(c));
        v.insert("token_id".into(), json!(t.id.display_id()));
        v.insert("verdict".into(), json!(t.verdict.as_str()));
    }
    if let Some(g) = &ev.geo {
        v.insert(
            "geo".into(),
            json!({"lat": g.lat, "lon": g.lon, "radius_km": g.radius_km, "city": g.city, "country": g.country, "asn": g.asn, "as_org": g.as_org}),
        );
    }
    v.insert("source".into(), json!(ev.source.to_string()));
    Value::Object(v)
}
