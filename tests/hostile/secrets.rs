//! Secrets in errors: a JWKS URL with user-info or an `api_key` query was
//! printed whole in the fetch error; a numeric identity key or a Kafka SASL
//! password in the TOML was quoted in the settings error.

use crate::common;

#[test]
fn a_jwks_url_with_credentials_is_printed_without_them() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://admin:hunter2pw@127.0.0.1:{port}/jwks.json?api_key=s3cr3tkey");
    let o = common::bin()
        .args(["replay", "--rules", "rules", "--jwks", &url, "--log", "trace", "sample-logs/logs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = common::text(&o.stderr) + &common::text(&o.stdout);
    assert!(err.contains(&format!("127.0.0.1:{port}/jwks.json")), "{err}");
    assert!(!err.contains("hunter2pw") && !err.contains("s3cr3tkey"), "{err}");
}

#[test]
fn settings_errors_never_quote_a_secret() {
    let dir = common::tempdir();
    let cfg = dir.path().join("s.toml");
    std::fs::write(
        &cfg,
        "rules_dir = \"rules\"\n[token]\nidentity_key = 12345\n[engine]\nmax_tokens = \"pw-in-wrong-key\"\n[stream.kafka]\n\"sasl.password\" = [\"s4sl-pass\"]\n",
    )
    .unwrap();
    let o = common::bin().args(["replay", "--config", cfg.to_str().unwrap(), "sample-logs/logs"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = common::text(&o.stderr);
    assert!(err.contains("invalid settings") || err.contains("invalid type"), "{err}");
    for s in ["12345", "pw-in-wrong-key", "s4sl-pass"] {
        assert!(!err.contains(s), "quotes {s}: {err}");
    }
}
