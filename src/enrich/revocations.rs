//! The `--revocations` file: NDJSON lines `{"iss","jti","revoked_at"}` or
//! `{"iss","sub","revoked_before"}` (RFC 3339), loaded into the engine's
//! [`RevocationView`]. Errors name the file and line.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::model::EventTime;
use crate::model::RevocationView;

#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("cannot read revocations file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: {why}")]
    Line { path: String, line: usize, why: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    iss: String,
    jti: Option<String>,
    sub: Option<String>,
    revoked_at: Option<String>,
    revoked_before: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// One parsed revocation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RevocationLine {
    Token {
        iss: String,
        jti: String,
        at: EventTime,
    },
    Subject {
        iss: String,
        sub: String,
        before: EventTime,
    },
    /// One token named by its hash (a forgery): nothing the view can match
    /// by claims; the deny-list hooks act on it.
    Fingerprint,
}

pub fn parse_revocation_line(text: &str) -> Result<RevocationLine, String> {
    let r: In = serde_json::from_str(text).map_err(|e| crate::ingest::scrub(&e.to_string()))?;
    let _ = r.reason;
    let time = |s: &str| EventTime::parse(s).map_err(|e| e.to_string());
    match (r.jti, r.sub, r.revoked_at, r.revoked_before) {
        (Some(jti), None, Some(at), None) => Ok(RevocationLine::Token { iss: r.iss, jti, at: time(&at)? }),
        (None, Some(sub), None, Some(b)) => Ok(RevocationLine::Subject { iss: r.iss, sub, before: time(&b)? }),
        _ => Err("expected {iss, jti, revoked_at} or {iss, sub, revoked_before}".into()),
    }
}

/// A revocation request as tokenhound produces it (`output::revocation_request`).
#[derive(Deserialize)]
struct Request {
    scope: String,
    #[serde(default)]
    iss: String,
    jti: Option<String>,
    sub: Option<String>,
    requested_at: Option<String>,
    revoked_before: Option<String>,
}

/// A record of a revocations topic: the `--revocations` line shape, or one of
/// tokenhound's own revocation requests (a token revoked from the time of its
/// finding; a subject's tokens issued before the cutoff).
pub fn parse_revocation_record(text: &str) -> Result<RevocationLine, String> {
    if !text.contains("\"scope\"") {
        return parse_revocation_line(text);
    }
    let r: Request = serde_json::from_str(text).map_err(|e| crate::ingest::scrub(&e.to_string()))?;
    let time = |s: Option<String>, f: &str| {
        EventTime::parse(s.as_deref().ok_or_else(|| format!("request without {f}"))?).map_err(|e| e.to_string())
    };
    match (r.scope.as_str(), r.jti, r.sub) {
        ("fingerprint", _, _) => Ok(RevocationLine::Fingerprint),
        // a subject's risk change revokes nothing (the step-up hooks act on it)
        ("risk", _, _) => Ok(RevocationLine::Fingerprint),
        ("token", Some(jti), _) => {
            Ok(RevocationLine::Token { iss: r.iss, jti, at: time(r.requested_at, "requested_at")? })
        }
        ("subject", _, Some(sub)) => {
            Ok(RevocationLine::Subject { iss: r.iss, sub, before: time(r.revoked_before, "revoked_before")? })
        }
        (s, _, _) => Err(format!("revocation request of scope {s:?} without its jti or sub")),
    }
}

impl RevocationLine {
    pub fn apply(&self, view: &mut RevocationView) {
        match self {
            RevocationLine::Token { iss, jti, at } => view.revoke_token(iss, jti, *at),
            RevocationLine::Subject { iss, sub, before } => view.revoke_subject(iss, sub, *before),
            RevocationLine::Fingerprint => {}
        }
    }
}

pub fn load_revocations(path: &Path) -> Result<RevocationView, RevocationError> {
    let p = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| RevocationError::Read { path: p.clone(), source: e })?;
    let mut view = RevocationView::default();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| RevocationError::Read { path: p.clone(), source: e })?;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        parse_revocation_line(&line)
            .map_err(|why| RevocationError::Line { path: p.clone(), line: i + 1, why })?
            .apply(&mut view);
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_requests_are_revocations() {
        let r = r#"{"scope":"token","iss":"https://idp","jti":"j1","key":"https://idp|j1","finding_uid":"u","rule":"r","reason":"x","requested_at":"2026-11-02T08:00:00Z","exp":1,"idempotency_key":"k"}"#;
        assert!(matches!(parse_revocation_record(r), Ok(RevocationLine::Token { jti, .. }) if jti == "j1"));
        let s = r#"{"scope":"subject","iss":"https://idp","sub":"alice","revoked_before":"2026-11-02T08:00:00Z"}"#;
        assert!(matches!(parse_revocation_record(s), Ok(RevocationLine::Subject { sub, .. }) if sub == "alice"));
        assert!(parse_revocation_record(r#"{"scope":"token","iss":"x"}"#).is_err());
        let plain = r#"{"iss":"https://idp","jti":"j2","revoked_at":"2026-11-02T08:00:00Z"}"#;
        assert!(parse_revocation_record(plain).is_ok());
        assert!(parse_revocation_record(r#"{"iss":"x","jti":"j","revoked_at":"never"}"#).is_err());
    }
}
