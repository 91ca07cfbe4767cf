//! Crash: a Kong line (60 KB, under the 1 MiB cap) whose unknown field, or
//! `jwt.aud`, holds a 30 000-deep array once overflowed the stack (exit 134);
//! 100 000 deep on `--threads 1`. Now a bad line of kind `too_deep`, and
//! the good lines beside it keep their alerts.

use crate::{kong, replay_lines};

fn deep(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

fn theft() -> Vec<String> {
    // London then Singapore 15 minutes later: impossible travel
    let claims = r#","jwt":{"iss":"https://idp.acme.example","jti":"crash-theft","sub":"victim","exp":1893456000}"#;
    vec![
        kong(1_793_600_000_000, "198.18.1.23", "REDACTED", 200, claims),
        kong(1_793_600_900_000, "198.18.126.77", "REDACTED", 200, claims),
    ]
}

#[test]
fn deep_arrays_are_a_bad_line_not_an_abort() {
    for (field, depth, threads) in
        [("x_unknown", 30_000, "2"), ("x_unknown", 100_000, "1"), ("jwt_aud", 30_000, "2"), ("jwt_aud", 100_000, "1")]
    {
        let extra = match field {
            "jwt_aud" => format!(r#","jwt":{{"iss":"i","jti":"j","aud":{}}}"#, deep(depth)),
            _ => format!(r#","x_unknown":{}"#, deep(depth)),
        };
        let mut lines = theft();
        lines.insert(1, kong(1_793_600_100_000, "198.18.1.23", "REDACTED", 200, &extra));
        // strict: the bad line is named, with its kind
        let strict = replay_lines(&lines, &["--profile", "kong", "--threads", threads]);
        assert_eq!(strict.code, Some(2), "{field} {depth}: {}", strict.stderr);
        assert!(strict.stderr.contains("hostile.ndjson:2: JSON nests deeper than 64 levels"), "{}", strict.stderr);
        // skipping: counted, and the theft around it is still found
        let skip = replay_lines(&lines, &["--profile", "kong", "--threads", threads, "--skip-errors"]);
        assert_eq!(skip.code, Some(0), "{}", skip.stderr);
        assert!(skip.stderr.contains("too_deep 1"), "{}", skip.stderr);
        assert!(skip.rules().contains(&"impossible-travel".to_string()), "{:?}", skip.rules());
    }
}

#[test]
fn deep_objects_and_deep_values_in_every_profile_never_abort() {
    let d = deep(50_000);
    let objs = format!("{}1{}", r#"{"a":"#.repeat(50_000), "}".repeat(50_000));
    let lines: Vec<String> = [
        format!(r#"{{"started_at":1793600000000,"client_ip":"198.18.1.5","request":{{"method":"GET","uri":"/","headers":{{"user-agent":{d}}}}}}}"#),
        format!(r#"{{"start_time":"2026-11-02T08:00:00Z","method":"GET","path":"/","response_code":200,"jwt":{objs}}}"#),
        format!(r#"{{"requestTimeEpoch":1793600000000,"sourceIp":"198.18.1.5","httpMethod":"GET","claims":{d}}}"#),
        format!(r#"{{"StartUTC":"2026-11-02T08:00:00Z","ClientHost":"198.18.1.5","RequestMethod":{objs}}}"#),
        format!(r#"{{"msec":1793600000.0,"remote_addr":"198.18.1.5","method":"GET","uri":"/","jwt":{d}}}"#),
        format!(r#"{{"time":"2026-11-02T08:00:00Z","client_ip":"198.18.1.5","claims":{objs}}}"#),
        format!("[{}]", d),
    ]
    .to_vec();
    for threads in ["1", "2"] {
        let r = replay_lines(&lines, &["--skip-errors", "--threads", threads]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(r.stderr.contains("too_deep 7"), "{}", r.stderr);
    }
}

/// Just under the limit: a line nesting 63 deep goes to the parsers, which
/// recurse (sonic-rs skips unknown values by recursion). In a debug build,
/// 60 levels overflowed a worker thread's default 2 MiB stack (exit 134 on
/// `--threads 2`, while the main thread's 8 MiB held): workers now get a
/// stack sized for the deepest line the check lets through.
#[test]
fn the_deepest_lines_let_through_never_overflow_a_worker() {
    let d = deep(62);
    let objs = format!("{}1{}", r#"{"a":"#.repeat(62), "}".repeat(62));
    let mut lines = theft();
    for (i, v) in [&d, &objs].into_iter().enumerate() {
        let t = 1_793_600_100_000 - i as u64;
        lines.insert(1, kong(t, "198.18.1.23", "REDACTED", 200, &format!(r#","x_unknown":{v}"#)));
        lines.insert(
            1,
            kong(t, "198.18.1.23", "REDACTED", 200, &format!(r#","jwt":{{"iss":"i","jti":"j","aud":{v}}}"#)),
        );
    }
    lines.push(format!(r#"{{"time":"2026-11-02T08:00:00Z","client_ip":"198.18.1.5","claims":{objs}}}"#));
    for threads in ["1", "2"] {
        let r = replay_lines(&lines, &["--skip-errors", "--threads", threads]);
        assert_eq!(r.code, Some(0), "threads {threads}: {}", r.stderr);
        assert!(!r.stderr.contains("too_deep"), "{}", r.stderr);
        assert!(r.rules().contains(&"impossible-travel".to_string()), "{:?}", r.rules());
    }
}

/// A batch longer than the one-pass limit (4096 records), and one of a
/// million-ish empty objects just under the line cap: every good record of
/// the first is read, the second is bad records, and neither takes the
/// process down (the one-pass path converts as it reads and stops early).
#[test]
fn huge_kong_batches_are_read_record_by_record() {
    let rec = r#"{"started_at":1793600000000,"client_ip":"198.18.1.23","request":{"method":"GET","uri":"/a"},"response":{"status":200}}"#;
    let long = format!("[{}]", vec![rec; 5000].join(","));
    let empties = format!("[{}]", vec!["{}"; 340_000].join(","));
    let r = crate::replay_lines(&[long, empties], &["--profile", "kong", "--skip-errors"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("5000 events"), "{}", r.stderr);
}

#[test]
fn a_place_off_the_globe_is_a_bad_line() {
    // coordinates no database gives (1e999 is already refused as JSON)
    for (geo, field) in [
        (r#"{"lat":91,"lon":0}"#, "lat"),
        (r#"{"lat":0,"lon":-200}"#, "lon"),
        (r#"{"lat":0,"lon":0,"radius_km":-5}"#, "radius_km"),
    ] {
        let line = format!(r#"{{"time":"2026-11-02T08:00:00Z","client_ip":"10.1.2.3","status":200,"geo":{geo}}}"#);
        let strict = replay_lines(std::slice::from_ref(&line), &["--profile", "tokenhound"]);
        assert_eq!(strict.code, Some(2), "{geo}: {}", strict.stderr);
        assert!(
            strict.stderr.contains(&format!("hostile.ndjson:1: tokenhound: field `{field}` has a bad value")),
            "{}",
            strict.stderr
        );
        let skip = replay_lines(&[line], &["--profile", "tokenhound", "--skip-errors"]);
        assert!(skip.code == Some(0) && skip.stderr.contains("bad_value 1"), "{}", skip.stderr);
    }
}
