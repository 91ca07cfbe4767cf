//! Ingest: one raw log line (bytes) to [`AccessEvent`]s. One module per
//! gateway profile turns the line into a [`Parsed`] record; [`Ingestor`]
//! finishes it: client IP (trusted proxies), field caps, string interning,
//! and the token (claims or raw JWT, via [`crate::token`]). Never panics on
//! any input; every error names what was wrong and never quotes a token.

mod aws;
mod common;
mod envoy;
mod fields;
mod ingestor;
mod kong;
mod native;
mod nginx;
pub mod scan;
mod traefik;

pub use common::{clean_path, client_ip, cut, scrub, scrub_bytes, scrub_framed, Interner};
pub use fields::{Parsed, Str};
pub use ingestor::{IngestConfig, IngestCounts, Ingestor};

/// Where a profile parser hands each record of a line (Kong batches hold
/// several): straight to the finishing step, without moving it around.
pub type Emit<'a, 'e> = dyn FnMut(Parsed<'a>) -> Result<(), IngestError> + 'e;

/// The gateway log formats tokenhound reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Detect the profile of each line from its keys.
    Auto,
    Kong,
    Envoy,
    AwsApigw,
    Traefik,
    Nginx,
    /// tokenhound's own normalized NDJSON.
    Tokenhound,
}

impl Profile {
    /// Guess a line's profile from the keys it carries at its top level
    /// (never from nested objects or string values: those the sender can
    /// choose, and a user agent `started_at` once steered a line to Kong).
    pub fn detect(line: &[u8]) -> Option<Profile> {
        // The keys that give a profile away, in order of precedence.
        const KEYS: [(&[u8], Profile); 10] = [
            (b"started_at", Profile::Kong),
            (b"StartUTC", Profile::Traefik),
            (b"ClientHost", Profile::Traefik),
            (b"requestTimeEpoch", Profile::AwsApigw),
            (b"httpMethod", Profile::AwsApigw),
            (b"response_code", Profile::Envoy),
            (b"downstream_remote_address", Profile::Envoy),
            (b"remote_addr", Profile::Nginx),
            (b"client_ip", Profile::Tokenhound),
            (b"time", Profile::Tokenhound),
        ];
        if line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Some(Profile::Kong);
        }
        let rank = |k: &[u8]| KEYS.iter().position(|(name, _)| *name == k);
        let mut best: Option<usize> = None;
        // SIMD: sonic-rs skips each value whole; a line it cannot walk to
        // the end goes to the byte scanner (the keys before the damage count)
        let mut clean = true;
        for kv in sonic_rs::to_object_iter(line) {
            match kv {
                Ok((k, _)) => {
                    if let Some(i) = rank(k.as_bytes()) {
                        best = Some(best.map_or(i, |b| b.min(i)));
                    }
                    if best == Some(0) {
                        break; // nothing outranks the first key
                    }
                }
                Err(_) => {
                    clean = false;
                    break;
                }
            }
        }
        if !clean {
            best = None;
            scan::top_level_keys(line, |k| {
                if let Some(i) = rank(k) {
                    best = Some(best.map_or(i, |b| b.min(i)));
                }
            });
        }
        best.map(|i| KEYS[i].1)
    }
}

/// Why a line could not be read. The driver adds file and line.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum IngestError {
    #[error("line is {len} bytes, over the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    #[error("JSON nests deeper than {max} levels (at byte {at})")]
    TooDeep { at: usize, max: usize },
    #[error("record {index} of the batch: {err}")]
    InBatch { index: usize, err: Box<IngestError> },
    #[error("{profile}: not valid JSON: {why}")]
    Json { profile: &'static str, why: String },
    #[error("{profile}: missing field `{field}`")]
    Missing { profile: &'static str, field: &'static str },
    #[error("{profile}: field `{field}` has a bad value: {value:?}")]
    BadValue { profile: &'static str, field: &'static str, value: String },
    #[error("cannot tell the gateway profile of this line (use --profile)")]
    UnknownProfile,
}

impl IngestError {
    /// A short stable name for counting errors by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::TooLong { .. } => "too_long",
            IngestError::TooDeep { .. } => "too_deep",
            IngestError::InBatch { err, .. } => err.kind(),
            IngestError::Json { .. } => "invalid_json",
            IngestError::Missing { .. } => "missing_field",
            IngestError::BadValue { .. } => "bad_value",
            IngestError::UnknownProfile => "unknown_profile",
        }
    }
}
