//! The internal events topic (ingest -> detect) carries two kinds of record:
//! a normalized event (an [`AccessEvent`] with its token identity: state
//! key, `iss`+`jti` or fingerprint, claims, verdict; GeoIP facts; the
//! position of the gateway record it came from and its index in a batch),
//! and a watermark record: for each gateway partition an ingest instance
//! reads, the event time before which nothing more will come from it.
//! Never a raw token.
//!
//! The first byte of a record is its format version: 3 is a pack of the
//! events bound for one partition ([`pack`]: what the ingest stage writes),
//! 2 is one event or one watermark record in the compact binary form of
//! [`binary`] (watermark records are always 2; a pack's entries are 2), and
//! a record that starts with `{` is version 1, JSON ([`json`]), still read
//! so a rolling upgrade with old records in the topic works. Decoding never panics; a bad
//! record is a [`WireError`] naming what was wrong (the detect stage
//! dead-letters it and goes on).

use crate::ingest::Interner;
use crate::model::{AccessEvent, EventTime};

pub mod binary;
pub mod json;
pub mod pack;
mod read;

/// Interned strings (user agent, method, path, gateway, source) are cut to this.
pub(crate) const STR_MAX: usize = 4096;

/// One record of the events topic.
#[derive(Debug)]
pub enum Record {
    /// An event, its index in its gateway record.
    Event(AccessEvent, u32),
    /// Source watermarks (a source is `topic/partition` of a gateway topic).
    Marks(Vec<(String, EventTime)>),
    /// A pack of events (version 3), each with its index in its gateway record.
    Pack(Vec<(AccessEvent, u32)>),
}

/// Why a record of the events topic could not be read. Never quotes the
/// record's bytes (they may hold identities).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not a tokenhound event: {0}")]
    Json(String),
    #[error("unsupported events-topic format version {0} (this build reads 1, 2 and 3): {hint}", hint = version_hint(*.0))]
    Version(u8),
    #[error("empty record (no format version byte)")]
    Empty,
    #[error("unknown record kind {0} in a version 2 record")]
    Kind(u8),
    #[error("truncated record: it ends inside {0}")]
    Truncated(&'static str),
    #[error("{0} trailing bytes after the end of the record")]
    Trailing(usize),
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("malformed varint in {0} (more than 64 bits)")]
    Varint(&'static str),
    #[error("{0} out of range: {1}")]
    Range(&'static str, String),
    #[error("unknown {0} code {1}")]
    Code(&'static str, u8),
    /// A pack's bad entry (numbered from 0), and how many others were bad
    /// (`others`: the first of their numbers); `spans`: where the first bad
    /// entries lie in the record (the bytes inside each one's frame, or the
    /// rest of the record from a frame that could not be read), up to 64 KiB
    /// of them.
    #[error("entry {entry} of a pack{}: {error}", more_entries(*more, others))]
    Pack { entry: usize, more: usize, others: Box<[usize]>, error: Box<WireError>, spans: Box<[(usize, usize)]> },
    #[error("unknown or contradictory bits {1:#x} in {0}")]
    Flags(&'static str, u64),
    #[error("bad token key")]
    Key,
    #[error("unknown verdict {0:?}")]
    Verdict(String),
    #[error("token has neither jti nor fingerprint")]
    Identity,
    #[error("unknown token origin {0:?}")]
    Origin(String),
}

fn version_hint(v: u8) -> &'static str {
    match v {
        0 | 1 => "version 1 records are JSON objects; this is not a record of the events topic",
        2 => "version 2 records are binary, not JSON",
        3 => "version 3 records are packs of version 2 events",
        _ => "written by a newer tokenhound (upgrade every detect stage before the ingest stages), or not a record of the events topic",
    }
}

impl WireError {
    /// A short stable name (dead-letter header, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            WireError::Version(_) => "unsupported_event_version",
            // a pack is this build's own version: an entry it cannot read is corrupt
            _ => "bad_event",
        }
    }
}

/// Which format the ingest stage writes (`[stream] events_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON: for a rolling upgrade from a build that reads only version 1.
    V1,
    /// One binary record per event: for a rolling upgrade from a build
    /// that reads versions 1 and 2 only.
    V2,
    /// Packs of version 2 events, one per events partition and period.
    #[default]
    V3,
}

/// Write the record of `ev` (`index`: in its gateway record) into `out`,
/// cleared first (a buffer reused across records: no allocation per record).
pub fn encode(ev: &AccessEvent, index: u32, out: &mut Vec<u8>) {
    encode_as(Format::V2, ev, index, out);
}

/// [`encode`] in a given format.
pub fn encode_as(f: Format, ev: &AccessEvent, index: u32, out: &mut Vec<u8>) {
    out.clear();
    match f {
        Format::V2 | Format::V3 => binary::encode(ev, index, out),
        Format::V1 => serde_json::to_writer(out, &json::wire(ev, index)).expect("an event always serializes"),
    }
}

/// Write the watermark record of the sources an ingest instance reads into
/// `out`, cleared first.
pub fn encode_marks(marks: &[(String, EventTime)], out: &mut Vec<u8>) {
    encode_marks_as(Format::V2, marks, out);
}

/// [`encode_marks`] in a given format.
pub fn encode_marks_as(f: Format, marks: &[(String, EventTime)], out: &mut Vec<u8>) {
    out.clear();
    match f {
        Format::V2 | Format::V3 => binary::encode_marks(marks, out),
        Format::V1 => out.extend_from_slice(&json::encode_marks(marks)),
    }
}

/// The record of `ev` in a new buffer (tests, tools; the stage reuses one).
pub fn to_vec(ev: &AccessEvent, index: u32) -> Vec<u8> {
    let mut v = Vec::new();
    encode(ev, index, &mut v);
    v
}

/// The watermark record of `marks` in a new buffer.
pub fn marks_to_vec(marks: &[(String, EventTime)]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_marks(marks, &mut v);
    v
}

/// Read a record back, version 3, 2 or 1; strings are interned (user
/// agents, paths repeat). A pack with a bad entry is an error here (see
/// [`decode_events`] to keep its good ones).
pub fn decode(bytes: &[u8], strings: &mut Interner) -> Result<Record, WireError> {
    match bytes.first() {
        None => Err(WireError::Empty),
        Some(b'{') => json::decode(bytes, strings),
        Some(&binary::VERSION) => read::decode(bytes, strings),
        Some(&pack::VERSION) => {
            let mut events = Vec::new();
            pack::decode(bytes, strings, &mut events).map(|()| Record::Pack(events))
        }
        Some(&v) => Err(WireError::Version(v)),
    }
}

/// Read a record's events into `out` (one, or a pack's), or its watermarks.
/// On an error `out` keeps what could be read (a pack's good entries).
pub fn decode_events(
    bytes: &[u8],
    strings: &mut Interner,
    out: &mut Vec<(AccessEvent, u32)>,
) -> Result<Option<Vec<(String, EventTime)>>, WireError> {
    if bytes.first() == Some(&pack::VERSION) {
        return pack::decode(bytes, strings, out).map(|()| None);
    }
    match decode(bytes, strings)? {
        Record::Event(ev, i) => out.push((ev, i)),
        Record::Pack(evs) => out.extend(evs),
        Record::Marks(m) => return Ok(Some(m)),
    }
    Ok(None)
}

/// The events partition of a record key, out of `partitions`: librdkafka's
/// default partitioner (`consistent_random`: CRC-32 of the key), so packed
/// records land where one-event records keyed the same did (a rolling
/// upgrade keeps a subject on one partition).
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (crc32fast::hash(key) % partitions.max(1) as u32) as i32
}

/// The partition key of an event: `%s|iss|sub` for a vouched subject's
/// token (its tokens share a partition: one engine holds the subject's
/// baseline and risk), else its token's display id (`iss|jti` or `fp:...`).
/// A display id never holds `%s` (its `%` are escaped), so the shapes stay apart.
pub fn key(ev: &AccessEvent) -> Option<String> {
    let mut k = String::new();
    key_into(ev, &mut k).then_some(k)
}

/// [`key`] written into `out` (cleared first): false for an event without a token.
pub fn key_into(ev: &AccessEvent, out: &mut String) -> bool {
    use crate::model::{escape_part, TokenId};
    out.clear();
    // a vouched subject's tokens share a partition (its baseline and risk)
    if let Some((t, sub)) = ev.token.as_ref().and_then(|t| Some((t, t.trusted_sub()?))) {
        push_subject_key(t.iss.as_deref().unwrap_or(""), sub, out);
        return true;
    }
    match ev.token.as_ref().map(|t| &t.id) {
        None => return false,
        Some(TokenId::Jti { iss, jti }) => {
            out.push_str(&escape_part(iss));
            out.push('|');
            out.push_str(&escape_part(jti));
        }
        Some(TokenId::Fingerprint(h)) => {
            out.push_str("fp:");
            out.push_str(h);
        }
    }
    true
}

/// The key of a vouched subject's records (events topic, baseline
/// snapshots): `%s|iss|sub`, parts escaped.
pub fn push_subject_key(iss: &str, sub: &str, out: &mut String) {
    use crate::model::escape_part;
    out.push_str("%s|");
    out.push_str(&escape_part(iss));
    out.push('|');
    out.push_str(&escape_part(sub));
}

/// ` (and 3 more bad entries: 4, 9, 12)`: the other bad entries of a pack,
/// their numbers as far as they were kept.
fn more_entries(more: usize, others: &[usize]) -> String {
    if more == 0 {
        return String::new();
    }
    if others.is_empty() {
        return format!(" (and {more} more bad entries)");
    }
    let list: Vec<String> = others.iter().map(usize::to_string).collect();
    let rest = if more > others.len() { ", ..." } else { "" };
    format!(" (and {more} more bad entries: {}{rest})", list.join(", "))
}

/// `s` cut to [`STR_MAX`] bytes on a char boundary (as the interner cuts).
pub(crate) fn cut(s: &str) -> &str {
    crate::model::cut(s, STR_MAX)
}

#[cfg(test)]
mod pack_tests;
#[cfg(test)]
mod tests;
