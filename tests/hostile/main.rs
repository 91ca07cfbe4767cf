//! The hostile corpus: tokenhound sits in the attacker's path, so every
//! field of a gateway line is chosen by whoever sent the request. One module
//! per kind of attack; each case is a generated log run through the real
//! binary, with its exact outcome: error kind and line, verdict, finding,
//! no revocation, nothing leaked. `docs/threat-model.md` says which promise
//! each module keeps.
//!
//! - `crash`: inputs that once aborted the process (deep nesting).
//! - `blind`: inputs that once hid a theft (garbage bearers, a bad record in
//!   a Kong batch, odd claims of signed tokens, a forged verdict, a spray).
//! - `drown`: floods that once spent what real tokens need (the revocation
//!   budget, the caches' byte bound).
//! - `forge`: forgeries that once raised nothing.
//! - `aim`: forged claims that once aimed a revocation at someone else.
//! - `leak`: tokens in paths, queries, user agents, request ids, gateways.
//! - `people`: markup and terminal control codes in what people read.
//! - `secrets`: credentials in URLs and settings errors.

#[path = "../common/mod.rs"]
mod common;

mod aim;
mod blind;
mod crash;
mod drown;
mod forge;
mod leak;
mod people;
mod secrets;

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn key(name: &str) -> jsonwebtoken::EncodingKey {
    let pem = std::fs::read(common::root().join("sample-logs/keys").join(name)).unwrap();
    jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()
}

/// A JWS with this exact header and payload text, signed RS256 by `signer`
/// ("idp" for the identity provider's key, "attacker" for a foreign one).
pub fn jws(header: &str, payload: &str, signer: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let k = key(if signer == "idp" { "idp-rs256.key" } else { "attacker-rs256.key" });
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &k, jsonwebtoken::Algorithm::RS256).unwrap();
    format!("{input}.{sig}")
}

/// An unsigned token.
pub fn none_token(payload: &str) -> String {
    format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(payload))
}

/// A Kong line (object) with an Authorization header and the given extras.
pub fn kong(t_ms: u64, ip: &str, auth: &str, status: u16, extra: &str) -> String {
    format!(
        r#"{{"started_at":{t_ms},"client_ip":"{ip}","request":{{"method":"GET","uri":"/api/me","headers":{{"user-agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0","authorization":"{auth}"}}}},"response":{{"status":{status}}}{extra}}}"#
    )
}

/// What one run of the binary gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub requests: Vec<Value>,
}

impl Run {
    /// The OCSF alerts on stdout.
    pub fn alerts(&self) -> Vec<Value> {
        self.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
    pub fn rules(&self) -> Vec<String> {
        self.alerts().iter().map(|a| a["finding_info"]["analytic"]["uid"].as_str().unwrap_or("").to_string()).collect()
    }
    pub fn all(&self) -> String {
        format!("{}\n{}\n{:?}", self.stdout, self.stderr, self.requests)
    }
}

/// Write `lines` to a file and replay it with the sample keys and geo.
pub fn replay_lines(lines: &[String], args: &[&str]) -> Run {
    let dir = common::tempdir();
    let log = dir.path().join("hostile.ndjson");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    replay_file(&log, dir.path(), args)
}

pub fn replay_file(log: &Path, dir: &Path, args: &[&str]) -> Run {
    let req: PathBuf = dir.join("requests.ndjson");
    let mut a: Vec<String> = vec!["replay".into()];
    let mut flags = common::sample_flags();
    // a flag given in `args` replaces the sample one
    for f in ["--revocations", "--rules"] {
        if args.contains(&f) {
            let i = flags.iter().position(|x| x == f).unwrap();
            flags.drain(i..i + 2);
        }
    }
    a.extend(flags);
    a.extend(["--revocation-requests".to_string(), req.display().to_string()]);
    a.extend(args.iter().map(|s| s.to_string()));
    a.push(log.display().to_string());
    let out = common::bin().args(&a).output().unwrap();
    let requests =
        std::fs::read_to_string(&req).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Run { code: out.status.code(), stdout: common::text(&out.stdout), stderr: common::text(&out.stderr), requests }
}
