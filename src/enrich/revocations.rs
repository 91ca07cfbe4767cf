//! The `--revocations` file: NDJSON lines `{"iss","jti","revoked_at"}` or
//! `{"iss","sub","revoked_before"}` (RFC 3339), loaded into the engine's
//! [`RevocationView`]. Errors name the file and line.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::engine::RevocationView;
use crate::model::EventTime;

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
#[derive(Debug, Clone, PartialEq)]
pub enum RevocationLine {
    Token { iss: String, jti: String, at: EventTime },
    Subject { iss: String, sub: String, before: EventTime },
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

impl RevocationLine {
    pub fn apply(&self, view: &mut RevocationView) {
        match self {
            RevocationLine::Token { iss, jti, at } => view.revoke_token(iss, jti, *at),
            RevocationLine::Subject { iss, sub, before } => view.revoke_subject(iss, sub, *before),
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
