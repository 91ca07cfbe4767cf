//! Settings: environment overlays, every error at once, nothing secret quoted.
use super::*;

#[test]
fn env_overlays_file_and_all_errors_reported() {
    let env = vec![
        ("TOKENHOUND_ENGINE__MAX_TOKENS".to_string(), "0".to_string()),
        ("TOKENHOUND_ENGINE__IDLE_TTL".to_string(), "forever".to_string()),
        ("TOKENHOUND_INGEST__TRUSTED_PROXIES".to_string(), r#"["10.0.0.0/8", "nope"]"#.to_string()),
        ("OTHER".to_string(), "x".to_string()),
    ];
    let raw = load_raw(None, env.into_iter()).unwrap();
    assert_eq!(raw.engine.max_tokens, Some(0));
    let e = raw.validate().unwrap_err();
    let text = e.to_string();
    assert!(text.contains("engine.max_tokens"), "{text}");
    assert!(text.contains("engine.idle_ttl"), "{text}");
    assert!(text.contains("\"nope\""), "{text}");
}

#[test]
fn a_syntax_error_names_the_line_but_never_quotes_it() {
    let dir = std::env::temp_dir().join(format!("th-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.toml");
    std::fs::write(&f, "rules_dir = \"rules\"\n[token]\nidentity_key = \"s3cret-identity-key-value\n").unwrap();
    let e = load_raw(Some(&f), std::iter::empty()).unwrap_err().to_string();
    assert!(e.contains("bad.toml:3:"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
}

#[test]
fn type_errors_never_quote_the_value() {
    let env = |k: &str, v: &str| vec![(k.to_string(), v.to_string())].into_iter();
    let e = load_raw(None, env("TOKENHOUND_ENGINE__MAX_TOKENS", "\"s3cret-password-value\"")).unwrap_err();
    let e = e.to_string();
    assert!(!e.contains("s3cret") && e.contains("<value>") && e.contains("expected"), "{e}");
    let e = load_raw(None, env("TOKENHOUND_STREAM__KAFKA", "[\"s3cret\"]")).unwrap_err().to_string();
    assert!(!e.contains("s3cret"), "{e}");
    // a numeric identity key is a key (its text), and never printed
    let raw = load_raw(None, env("TOKENHOUND_TOKEN__IDENTITY_KEY", "1234567890123")).unwrap();
    assert!(!format!("{raw:?}").contains("1234567890123"));
    let e = raw.validate().unwrap_err().to_string();
    assert!(e.contains("token.identity_key") && !e.contains("1234567890123"), "{e}");
}

#[test]
fn unknown_keys_are_errors() {
    let env = vec![("TOKENHOUND_ENGINE__MAX_TOKEN".to_string(), "5".to_string())];
    let e = load_raw(None, env.into_iter()).unwrap_err().to_string();
    assert!(e.contains("max_token"), "{e}");
}
