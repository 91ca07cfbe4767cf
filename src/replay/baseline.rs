//! Subject baselines in a file (`replay --baseline FILE`): a header line,
//! then one JSON line per subject, sorted, so a replay of last week can
//! start from the week before and the file diffs cleanly. Written to a
//! temporary file and renamed, so a crash never leaves half a baseline.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::json;

use super::pipeline::Baselines;
use crate::engine::subjects::Subject;

const KIND: &str = "tokenhound-subject-baselines";
const VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baselines {path}: {why}")]
    Read { path: String, why: String },
    #[error("{path}:{line}: {why}")]
    Line { path: String, line: usize, why: String },
    #[error("cannot write baselines {path}: {why}")]
    Write { path: String, why: String },
}

/// Read a baseline file; a missing file is an empty baseline (the first run).
pub fn load(path: &Path) -> Result<Baselines, BaselineError> {
    let p = path.display().to_string();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BaselineError::Read { path: p, why: e.to_string() }),
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| BaselineError::Read { path: p.clone(), why: e.to_string() })?;
        let bad = |why: String| BaselineError::Line { path: p.clone(), line: i + 1, why };
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(crate::ingest::scrub(&e.to_string())))?;
        if i == 0 {
            if v["kind"] != KIND || v["version"] != VERSION {
                return Err(bad(format!("not a {KIND} file of version {VERSION}")));
            }
            continue;
        }
        let (Some(iss), Some(sub)) = (v["iss"].as_str(), v["sub"].as_str()) else {
            return Err(bad("a subject line needs iss and sub".into()));
        };
        let s: Subject = serde_json::from_value(v["baseline"].clone()).map_err(|e| bad(e.to_string()))?;
        out.push(((iss.into(), sub.into()), s));
    }
    Ok(out)
}

/// Write the baselines (sorted) to `path`, atomically.
pub fn save(path: &Path, all: &Baselines, window_secs: i64) -> Result<(), BaselineError> {
    let p = path.display().to_string();
    let err = |e: std::io::Error| BaselineError::Write { path: p.clone(), why: e.to_string() };
    let tmp = path.with_extension("tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
    writeln!(w, "{}", json!({ "kind": KIND, "version": VERSION, "window_secs": window_secs, "subjects": all.len() }))
        .map_err(err)?;
    for ((iss, sub), s) in all {
        writeln!(w, "{}", json!({ "iss": &**iss, "sub": &**sub, "baseline": s })).map_err(err)?;
    }
    w.into_inner().map_err(|e| err(e.into_error()))?.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
