//! Version 3 of the events topic: a pack of version 2 event records bound
//! for one events partition. The ingest stage gathers the events of every
//! gateway record it reads for one watermark period (100 ms) or until a pack
//! is full, then writes one Kafka record per events partition, followed by
//! its watermark records. One record instead of hundreds saves what Kafka
//! costs per record on both sides (produce, delivery report, fetch, poll,
//! offset bookkeeping), and delays nothing: the detect stage judges an event
//! only once a later watermark record has passed it, and those come after.
//!
//! ```text
//! record = 0x03 entry+                    (no trailing bytes)
//! entry  = len:uvar event-record          (a whole version 2 event record: 0x02 0x01 ...)
//! ```
//!
//! Every entry is framed by its length, so one bad entry costs only itself:
//! the reader keeps the others and names the first bad one.

use super::binary::{self, put_u};
use super::read::Reader;
use super::{Record, WireError};
use crate::ingest::Interner;
use crate::model::AccessEvent;

pub const VERSION: u8 = 3;

/// A pack is written once it holds this many bytes (well under Kafka's
/// default 1 MB record limit; one event is at most a few KiB).
pub const MAX_BYTES: usize = 256 * 1024;

/// The record being gathered for one events partition.
#[derive(Debug)]
pub struct Pack {
    buf: Vec<u8>,
    events: usize,
}

impl Default for Pack {
    fn default() -> Self {
        Pack { buf: vec![VERSION], events: 0 }
    }
}

impl Pack {
    /// Add `ev` (`index`: in its gateway record); `scratch` is a reused buffer.
    pub fn push(&mut self, ev: &AccessEvent, index: u32, scratch: &mut Vec<u8>) {
        scratch.clear();
        binary::encode(ev, index, scratch);
        self.push_record(scratch);
    }

    /// Add an event's version 2 record.
    pub fn push_record(&mut self, rec: &[u8]) {
        put_u(&mut self.buf, rec.len() as u64);
        self.buf.extend_from_slice(rec);
        self.events += 1;
    }

    /// Whether `rec` would take the pack past [`MAX_BYTES`] (an empty pack
    /// takes any record: one event alone is always sent).
    pub fn full_for(&self, rec: &[u8]) -> bool {
        !self.is_empty() && self.buf.len() + rec.len() + 10 > MAX_BYTES
    }

    /// The events in the pack.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The record's size so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The record (valid once it holds an event).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Empty it for the next period (keeps its memory, up to [`MAX_BYTES`]).
    pub fn clear(&mut self) {
        self.buf.truncate(1);
        self.buf.shrink_to(MAX_BYTES);
        self.events = 0;
    }
}

/// Read a pack (the version byte included): its events into `out`, in
/// order. A bad entry is skipped and the first one is the error, returned
/// once the rest was read (`out` keeps the good ones); an entry longer than
/// the bytes left ends the read there.
pub fn decode(bytes: &[u8], strings: &mut Interner, out: &mut Vec<(AccessEvent, u32)>) -> Result<(), WireError> {
    let mut r = Reader { b: bytes };
    let v = r.byte("format version")?;
    if v != VERSION {
        return Err(WireError::Version(v));
    }
    if r.b.is_empty() {
        return Err(WireError::Range("pack", "no events".into()));
    }
    let (mut entry, mut first, mut bad, mut spans, mut kept) = (0usize, None, 0usize, Vec::new(), 0usize);
    let mut others = Vec::new();
    let at = |r: &Reader<'_>| bytes.len() - r.b.len();
    while !r.b.is_empty() {
        let start = at(&r);
        let framed = r.u("pack entry length").and_then(|n| {
            let n = usize::try_from(n).ok().filter(|n| *n <= r.b.len()).ok_or(WireError::Truncated("pack entry"))?;
            r.take(n, "pack entry")
        });
        // the entries after a lost frame cannot be found: the bad span is the rest
        let (lost, span) = match &framed {
            Ok(rec) => (false, (at(&r) - rec.len(), at(&r))),
            Err(_) => (true, (start, bytes.len())),
        };
        let got = framed.and_then(|rec| match super::read::decode(rec, strings)? {
            Record::Event(ev, i) => Ok((ev, i)),
            _ => Err(WireError::Range("pack entry", "a watermark record, not an event".into())),
        });
        match got {
            Ok(e) => out.push(e),
            Err(e) => {
                bad += 1;
                // enough to show them: a record of a million 1-byte bad
                // entries does not make a million spans
                if kept < KEEP_BAD_BYTES {
                    kept += span.1 - span.0;
                    spans.push(span);
                }
                if first.is_some() && others.len() < KEEP_BAD_NUMBERS {
                    others.push(entry);
                }
                first.get_or_insert((entry, e));
            }
        }
        entry += 1;
        if lost {
            break;
        }
    }
    match first {
        None => Ok(()),
        Some((entry, error)) => Err(WireError::Pack {
            entry,
            more: bad - 1,
            others: others.into(),
            error: Box::new(error),
            spans: spans.into(),
        }),
    }
}

/// The bad entries of a pack kept for its dead letter: the first ones,
/// until they hold what a dead letter's value keeps.
const KEEP_BAD_BYTES: usize = crate::stream::out::DEAD_LETTER_MAX_BYTES;

/// The numbers of a pack's other bad entries its error names (the count
/// says how many there were).
const KEEP_BAD_NUMBERS: usize = 16;

/// A pack of only the bad entries of `record` (`spans`, from its
/// [`WireError::Pack`]), each framed again: what the dead-letter topic
/// keeps, so it holds the bytes that could not be read and none of the
/// other subjects' good events beside them. (The dead letter keeps these
/// bytes as they are, but for JWT-shaped words, such as a long host name
/// with two dots, which it redacts in place: `ingest::scrub_framed`.) Spans
/// outside `record` are skipped.
pub fn bad_entries(record: &[u8], spans: &[(usize, usize)]) -> Vec<u8> {
    let mut out = vec![VERSION];
    for b in spans.iter().filter_map(|&(s, e)| record.get(s..e)) {
        put_u(&mut out, b.len() as u64);
        out.extend_from_slice(b);
    }
    out
}
