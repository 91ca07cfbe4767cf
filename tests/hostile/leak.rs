//! Leaks: a token in `?access_token=` once stayed in the path (native,
//! nginx, AWS); one in a path segment, the user agent, the request id or the
//! gateway field survived in all six profiles, into every output. Now every
//! JWT-shaped text is replaced at ingest and the query string is dropped.
//! The canary is planted in every such field of every profile and looked
//! for in every output: OCSF, ECS, table, revocation requests, logs at
//! trace, export CSV and Parquet, investigate's four files.

use crate::{b64, common};

fn canary() -> (String, Vec<String>) {
    let h = b64(r#"{"alg":"RS256","kid":"idp-2026-11"}"#);
    let p = b64(r#"{"iss":"https://idp.acme.example","jti":"leak-canary","sub":"leaky","exp":1893456000}"#);
    let s = "TEVBS19DQU5BUllfU0lHTkFUVVJFX0RPX05PVF9MRUFL".to_string();
    (format!("{h}.{p}.{s}"), vec![p, s])
}

/// A line per profile with the canary in the path (segment and query), the
/// user agent, the request id and the gateway field; a forged bearer too,
/// so alerts (with evidence) are made of these very events.
fn lines(t: &str) -> Vec<String> {
    let f = |i: u8| crate::none_token(&format!(r#"{{"iss":"https://idp.acme.example","jti":"leak-alert-{i}"}}"#));
    let path = format!("/files/{t}/x?access_token={t}&q=1");
    let (f0, f1, f2, f3, f4) = (f(0), f(1), f(2), f(3), f(4));
    vec![
        format!(
            r#"{{"started_at":1793600000000,"client_ip":"198.18.1.5","request":{{"method":"GET","uri":"{path}","id":"{t}","headers":{{"user-agent":"curl {t}","authorization":"Bearer {f0}","x-request-id":"{t}"}}}},"response":{{"status":200}},"service":{{"name":"{t}"}}}}"#
        ),
        format!(
            r#"{{"start_time":"2026-11-02T08:00:01Z","method":"GET","path":"{path}","response_code":200,"user_agent":"x {t}","request_id":"{t}","route_name":"{t}","downstream_remote_address":"198.18.1.5:1","authorization":"Bearer {f1}"}}"#
        ),
        format!(
            r#"{{"requestTimeEpoch":1793600002000,"sourceIp":"198.18.1.5","userAgent":"x {t}","httpMethod":"GET","resourcePath":"-","path":"{path}","status":"200","requestId":"{t}","apiId":"{t}","claims":{{"iss":"https://idp.acme.example","jti":"leak-aws"}}}}"#
        ),
        format!(
            r#"{{"StartUTC":"2026-11-02T08:00:03Z","ClientHost":"198.18.1.5","RequestMethod":"GET","RequestPath":"{path}","DownstreamStatus":200,"request_User-Agent":"x {t}","request_X-Request-Id":"{t}","RouterName":"{t}","request_Authorization":"Bearer {f2}"}}"#
        ),
        format!(
            r#"{{"msec":1793600004.0,"remote_addr":"198.18.1.5","method":"GET","uri":"{path}","status":200,"user_agent":"x {t}","request_id":"{t}","host":"{t}","authorization":"Bearer {f3}"}}"#
        ),
        format!(
            r#"{{"time":"2026-11-02T08:00:05Z","client_ip":"198.18.1.5","path":"{path}","user_agent":"x {t}","request_id":"{t}","gateway":"{t}","status":200,"token":"{f4}"}}"#
        ),
    ]
}

#[test]
fn a_token_in_any_field_reaches_no_output() {
    let (t, needles) = canary();
    let dir = common::tempdir();
    let log = dir.path().join("leak.ndjson");
    std::fs::write(&log, lines(&t).join("\n")).unwrap();
    let mut outputs: Vec<(String, String)> = Vec::new();
    let req = dir.path().join("req.ndjson");
    for (name, extra) in [
        ("ocsf+trace", vec!["--log", "trace", "--revocation-requests", req.to_str().unwrap()]),
        ("ecs", vec!["--format", "ecs"]),
        ("table", vec!["--format", "table", "--log", "debug"]),
    ] {
        let mut a = vec!["replay".to_string()];
        a.extend(common::sample_flags());
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(log.display().to_string());
        let o = common::bin().args(&a).output().unwrap();
        assert!(o.status.success(), "{name}: {}", common::text(&o.stderr));
        outputs.push((name.into(), common::text(&o.stdout) + &common::text(&o.stderr)));
    }
    let ocsf = &outputs[0].1;
    assert_eq!(ocsf.matches("\"uid\":\"forged-token\"").count(), 5, "the planted events made alerts");
    assert!(ocsf.contains("/files/<jwt-redacted>/x\""), "the path is kept, redacted, without its query");
    outputs.push(("requests".into(), std::fs::read_to_string(&req).unwrap()));
    // export CSV and Parquet (read back with polars)
    let (csv, pq) = (dir.path().join("e.csv"), dir.path().join("e.parquet"));
    let mut a: Vec<String> = vec!["export".into(), "--csv".into(), csv.display().to_string()];
    a.extend(["--parquet".into(), pq.display().to_string()]);
    a.extend(common::sample_flags().into_iter().filter(|f| !f.contains("revocations")));
    a.push(log.display().to_string());
    let o = common::bin().args(&a).output().unwrap();
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    outputs.push(("csv".into(), std::fs::read_to_string(&csv).unwrap()));
    outputs.push(("parquet".into(), parquet_text(&pq)));
    // investigate's four files
    let rep = dir.path().join("report");
    let mut a: Vec<String> = vec!["investigate".into(), "--out".into(), rep.display().to_string()];
    a.extend(common::sample_flags().into_iter().filter(|f| !f.contains("revocations")));
    a.push(log.display().to_string());
    let o = common::bin().args(&a).output().unwrap();
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    for f in ["report.html", "report.md", "report.json"] {
        outputs.push((f.into(), std::fs::read_to_string(rep.join(f)).unwrap()));
    }
    outputs.push(("events.parquet".into(), parquet_text(&rep.join("events.parquet"))));
    for (name, text) in &outputs {
        assert!(!text.is_empty(), "{name} is empty");
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{name} leaks the canary: {text}");
        }
    }
}

/// Every string cell of a Parquet file, as text.
fn parquet_text(p: &std::path::Path) -> String {
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(p).unwrap()).finish().unwrap();
    let mut s = String::new();
    for c in df.columns() {
        if let Ok(v) = c.str() {
            for i in 0..v.len() {
                if let Some(x) = v.get(i) {
                    s.push_str(x);
                    s.push('\n');
                }
            }
        }
    }
    s
}
