//! One generated request as a log line of each gateway profile.

use std::io::Write;

use super::{GenEvent, GenToken, ISSUER, KID};
use crate::ingest::Profile;
use crate::model::EventTime;

/// JSON string body (quotes added by the caller's format string).
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        return s.into();
    }
    let q = serde_json::to_string(s).unwrap_or_default();
    q[1..q.len() - 1].to_string().into()
}

fn claims(t: &GenToken, as_strings: bool) -> String {
    let q = |n: i64| {
        if as_strings {
            format!("\"{n}\"")
        } else {
            n.to_string()
        }
    };
    format!(
        r#"{{"iss":"{ISSUER}","jti":"{}","sub":"{}","iat":{},"exp":{},"client_id":"{}","kid":"{KID}"}}"#,
        t.jti,
        t.sub,
        q(t.iat),
        q(t.exp),
        t.client_id
    )
}

fn rid(e: &GenEvent) -> String {
    format!("{:08x}-{:04x}", e.seq, (e.t / 1000) as u16)
}

pub fn line(p: Profile, e: &GenEvent, out: &mut Vec<u8>) {
    let ua = esc(&e.ua);
    let raw = e.token.as_ref().and_then(|t| t.raw.as_deref());
    let tok = e.token.as_deref();
    let ms = e.t / 1000;
    let iso = EventTime(e.t).to_rfc3339();
    let r = match p {
        Profile::Kong | Profile::Auto => {
            let (auth, jwt) = kong_token(e);
            writeln!(
                out,
                r#"{{"started_at":{ms},"client_ip":"{}","request":{{"method":"{}","uri":"{}","size":{},"id":"{}","headers":{{"user-agent":"{ua}","host":"api.acme.example"{auth}}}}},"response":{{"status":{},"size":{}}},"route":{{"name":"{}"}},"service":{{"name":"{}-svc"}},"latencies":{{"request":12,"kong":1,"proxy":11}}{jwt}}}"#,
                e.ip,
                e.method,
                e.path,
                180,
                rid(e),
                e.status,
                e.bytes,
                e.route,
                e.route
            )
        }
        Profile::Envoy => {
            let tail = match (tok, raw) {
                (_, Some(r)) => format!(r#","authorization":"Bearer {r}""#),
                (Some(t), None) => format!(r#","jwt":{}"#, claims(t, false)),
                _ => String::new(),
            };
            let peer = match e.ip {
                std::net::IpAddr::V6(a) => format!("[{a}]:443"),
                a => format!("{a}:443"),
            };
            writeln!(
                out,
                r#"{{"start_time":"{iso}","method":"{}","path":"{}","protocol":"HTTP/1.1","response_code":{},"bytes_sent":{},"user_agent":"{ua}","downstream_remote_address":"{peer}","request_id":"{}","route_name":"{}","authority":"api.acme.example"{tail}}}"#,
                e.method,
                e.path,
                e.status,
                e.bytes,
                rid(e),
                e.route
            )
        }
        Profile::AwsApigw => {
            let c = tok.map(|t| format!(r#","claims":{}"#, claims(t, true))).unwrap_or_default();
            writeln!(
                out,
                r#"{{"requestId":"{}","sourceIp":"{}","userAgent":"{ua}","requestTimeEpoch":{ms},"httpMethod":"{}","resourcePath":"/{}","path":"{}","status":"{}","responseLength":"{}","apiId":"a1b2c3d4"{c}}}"#,
                rid(e),
                e.ip,
                e.method,
                e.route,
                e.path,
                e.status,
                e.bytes
            )
        }
        Profile::Traefik => {
            let auth = raw.map(|r| format!(r#","request_Authorization":"Bearer {r}""#)).unwrap_or_default();
            writeln!(
                out,
                r#"{{"StartUTC":"{iso}","ClientHost":"{}","RequestMethod":"{}","RequestPath":"{}","DownstreamStatus":{},"DownstreamContentSize":{},"request_User-Agent":"{ua}","request_X-Request-Id":"{}","RouterName":"{}@file"{auth}}}"#,
                e.ip,
                e.method,
                e.path,
                e.status,
                e.bytes,
                rid(e),
                e.route
            )
        }
        Profile::Nginx => {
            let tail = match (tok, raw) {
                (_, Some(r)) => format!(r#","authorization":"Bearer {r}""#),
                (Some(t), None) => format!(r#","jwt":{}"#, claims(t, true)),
                _ => String::new(),
            };
            writeln!(
                out,
                r#"{{"msec":{}.{:03},"remote_addr":"{}","method":"{}","uri":"{}","status":{},"bytes_sent":{},"user_agent":"{ua}","request_id":"{}","host":"api.acme.example"{tail}}}"#,
                ms / 1000,
                ms % 1000,
                e.ip,
                e.method,
                e.path,
                e.status,
                e.bytes,
                rid(e)
            )
        }
        Profile::Tokenhound => {
            let tail = match (tok, raw) {
                (_, Some(r)) => format!(r#","token":"{r}""#),
                (Some(t), None) => format!(r#","claims":{}"#, claims(t, false)),
                _ => String::new(),
            };
            writeln!(
                out,
                r#"{{"time":"{iso}","client_ip":"{}","user_agent":"{ua}","method":"{}","path":"{}","status":{},"request_id":"{}","gateway":"edge-1","bytes":{}{tail}}}"#,
                e.ip,
                e.method,
                e.path,
                e.status,
                rid(e),
                e.bytes
            )
        }
    };
    r.expect("writing to a Vec cannot fail");
}

/// How Kong logs the token of a request: the `authorization` header (the
/// raw bearer, or `REDACTED` when the claims are logged instead) and the
/// `jwt` object of `custom_fields_by_lua`.
fn kong_token(e: &GenEvent) -> (String, String) {
    let raw = e.token.as_ref().and_then(|t| t.raw.as_deref());
    let tok = e.token.as_deref();
    let auth = match raw {
        Some(r) => format!(r#","authorization":"Bearer {r}""#),
        None if tok.is_some() => r#","authorization":"REDACTED""#.to_string(),
        None => String::new(),
    };
    let jwt = match (tok, raw) {
        (Some(t), None) => format!(r#","jwt":{}"#, claims(t, false)),
        _ => String::new(),
    };
    (auth, jwt)
}

/// A UUID-shaped id, stable for a name (Kong's route / service / workspace ids).
fn uuid_of(name: &str) -> String {
    let h = crate::gen::rng::fnv(name.as_bytes());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// Kong's whole log object for one request (http-log / file-log /
/// kafka-log serializer: request and response headers, tries, route,
/// service, latencies), without a line end: a line holds one, or a
/// kafka-log batch holds several.
pub fn kong_full(e: &GenEvent, out: &mut Vec<u8>) {
    let ua = esc(&e.ua);
    let ms = e.t / 1000;
    let id = rid(e);
    let (auth, jwt) = kong_token(e);
    let (route, svc) = (uuid_of(e.route), uuid_of(&format!("{}-svc", e.route)));
    let upstream = 8 + (e.seq % 20) as u32;
    let kong = 1 + (e.seq % 3) as u32;
    let _ = write!(
        out,
        r#"{{"request":{{"uri":"{path}","size":{size},"querystring":{{}},"headers":{{"accept":"application/json","host":"api.acme.example","user-agent":"{ua}","x-request-id":"{id}"{auth}}},"method":"{method}","id":"{id}"}},"upstream_uri":"{path}","response":{{"status":{status},"size":{bytes},"headers":{{"content-type":"application/json","x-kong-upstream-latency":"{upstream}","x-kong-proxy-latency":"{kong}","via":"1.1 kong/3.9.1"}}}},"tries":[{{"balancer_start":{ms},"ip":"10.20.{o3}.{o4}","port":8080}}],"route":{{"id":"{route}","name":"{rname}","service":{{"id":"{svc}"}}}},"service":{{"id":"{svc}","name":"{rname}-svc","host":"{rname}.internal"}},"latencies":{{"request":{total},"kong":{kong},"proxy":{upstream},"receive":0}},"client_ip":"{ip}","started_at":{ms},"source":"upstream","workspace_name":"default"{jwt}}}"#,
        path = e.path,
        size = 180 + (e.seq % 400),
        method = e.method,
        status = e.status,
        bytes = e.bytes,
        o3 = (e.seq >> 8) % 4,
        o4 = 10 + e.seq % 40,
        rname = e.route,
        total = upstream + kong,
        ip = e.ip,
    );
}
