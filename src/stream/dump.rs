//! `tokenhound events dump`: the events topic (packs v3, binary v2 or JSON
//! v1) as NDJSON a person or `jq` reads: one line per event or watermark
//! record with its partition, offset and key (a pack's events: their own
//! key), the event as version 1 JSON (never a raw token: the
//! topic holds none), or the reason it cannot be read. Reads from each
//! partition's start (or `--offset`) to its end as of the call, without a
//! consumer group offset, streaming (memory does not grow with the topic).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::kafka::{base_config, wall_ms};
use super::wire;
use crate::ingest::Interner;
use crate::settings::StreamSettings;

/// What to dump.
pub struct DumpPlan {
    pub topic: String,
    pub partition: Option<i32>,
    /// First offset of each partition (default: its start).
    pub offset: Option<i64>,
    /// Stop after this many lines (default: every record up to the end).
    pub max: Option<u64>,
}

/// Records written and records that could not be read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dumped {
    pub records: u64,
    pub unreadable: u64,
}

pub fn dump(s: &StreamSettings, plan: &DumpPlan, out: &mut dyn Write) -> Result<Dumped, String> {
    let err = |e: rdkafka::error::KafkaError| e.to_string();
    let mut cfg = base_config(s, "tokenhound-dump");
    cfg.set("group.id", format!("{}.dump", s.group))
        .set("enable.auto.commit", "false")
        // a partition's end is where the broker says it is (a transaction
        // marker at the tail is never delivered as a record)
        .set("enable.partition.eof", "true");
    let c: BaseConsumer = cfg.create().map_err(err)?;
    let md = c.fetch_metadata(Some(&plan.topic), Duration::from_secs(10)).map_err(err)?;
    let known: Vec<i32> = md.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    if known.is_empty() {
        return Err(format!("topic {} has no partitions (does it exist?)", plan.topic));
    }
    let parts = match plan.partition {
        Some(p) if !known.contains(&p) => return Err(format!("topic {} has no partition {p}", plan.topic)),
        Some(p) => vec![p],
        None => known,
    };
    let (mut tpl, mut ends) = (TopicPartitionList::new(), BTreeMap::new());
    for p in parts {
        let (lo, hi) = c.fetch_watermarks(&plan.topic, p, Duration::from_secs(10)).map_err(err)?;
        let from = plan.offset.map_or(lo, |o| o.clamp(lo, hi));
        if hi > from {
            tpl.add_partition_offset(&plan.topic, p, Offset::Offset(from)).map_err(err)?;
            ends.insert(p, hi);
        }
    }
    let mut done = Dumped::default();
    if ends.is_empty() {
        return Ok(done);
    }
    c.assign(&tpl).map_err(err)?;
    let (mut strings, mut line, mut events) = (Interner::new(4096), Vec::with_capacity(1024), Vec::new());
    let mut quiet = wall_ms();
    while !ends.is_empty() && plan.max.is_none_or(|m| done.records + done.unreadable < m) {
        let Some(m) = c.poll(Duration::from_millis(200)) else {
            if wall_ms() - quiet > 30_000 {
                return Err(format!("no record from {} for 30 s before its end", plan.topic));
            }
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                ends.remove(&p);
                continue;
            }
            Err(e) => return Err(err(e)),
        };
        // records past a partition's end as of the call (new traffic) are
        // not this dump's
        let Some(hi) = ends.get(&m.partition()).copied() else { continue };
        if m.offset() >= hi {
            ends.remove(&m.partition());
            continue;
        }
        quiet = wall_ms();
        if m.offset() + 1 >= hi {
            ends.remove(&m.partition());
        }
        let budget = plan.max.map_or(u64::MAX, |m| m - done.records - done.unreadable);
        let rec = Rec {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key(),
            payload: m.payload().unwrap_or_default(),
        };
        write_record(&rec, budget, &mut strings, &mut events, &mut line, &mut done);
        out.write_all(terminal_safe(&line).as_bytes()).map_err(|e| format!("writing the dump: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing the dump: {e}"))?;
    Ok(done)
}

/// A record of the events topic.
struct Rec<'a> {
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: &'a [u8],
}

/// The lines of one record into `line` (cleared first), at most `budget`:
/// an event (a pack: one line per event, keyed by the event's own key), a
/// watermark record, or why (part of) it cannot be read (a pack's bad
/// entry: the error names it, the good ones are written).
fn write_record(
    rec: &Rec<'_>,
    budget: u64,
    strings: &mut Interner,
    events: &mut Vec<(crate::model::AccessEvent, u32)>,
    line: &mut Vec<u8>,
    done: &mut Dumped,
) {
    line.clear();
    events.clear();
    let packed = rec.payload.first() == Some(&wire::pack::VERSION);
    let head = |key: Option<String>, line: &mut Vec<u8>| {
        let key = key.or_else(|| rec.key.map(|k| String::from_utf8_lossy(k).into_owned()));
        let head = serde_json::json!({ "partition": rec.partition, "offset": rec.offset, "key": key }).to_string();
        line.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    };
    let read = wire::decode_events(rec.payload, strings, events);
    let mut written = 0u64;
    if let Ok(Some(marks)) = &read {
        head(None, line);
        line.extend_from_slice(b",\"marks\":");
        line.extend_from_slice(&wire::json::encode_marks(marks));
        line.extend_from_slice(b"}\n");
        done.records += 1;
        return;
    }
    for (ev, index) in events.iter() {
        if written >= budget {
            return;
        }
        head(packed.then(|| wire::key(ev)).flatten(), line);
        line.extend_from_slice(b",\"event\":");
        line.extend_from_slice(&wire::json::encode(ev, *index));
        line.extend_from_slice(b"}\n");
        done.records += 1;
        written += 1;
    }
    if let Err(e) = read {
        if written >= budget {
            return;
        }
        head(None, line);
        let why = serde_json::json!({ "error": e.to_string(), "kind": e.kind() }).to_string();
        line.push(b',');
        line.extend_from_slice(&why.as_bytes()[1..why.len() - 1]);
        line.extend_from_slice(b"}\n");
        done.unreadable += 1;
    }
}

/// JSON escapes only C0 controls: DEL, the C1 controls (U+009B is a CSI),
/// bidi overrides and line separators would reach a terminal raw. They can
/// only be inside strings (JSON's structure is ASCII), so `\uXXXX` keeps
/// the meaning for `jq` and leaves nothing for a terminal to act on.
fn terminal_safe(line: &[u8]) -> std::borrow::Cow<'_, str> {
    let text = String::from_utf8_lossy(line);
    let bad = |c: char| {
        c == '\u{7f}'
            || ('\u{80}'..='\u{9f}').contains(&c)
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
    };
    if !text.chars().any(bad) {
        return text;
    }
    let mut o = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if bad(c) {
            o.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn terminal_controls_are_escaped_and_json_keeps_its_meaning() {
        let v = serde_json::json!({"ua": "x\u{9b}2J\u{202e}evil\u{7f}\u{2028}", "k": "plain é"});
        let line = v.to_string();
        let safe = super::terminal_safe(line.as_bytes());
        assert!(safe.is_ascii() || safe.chars().all(|c| c == 'é' || c.is_ascii()), "{safe}");
        assert!(safe.contains("\\u009b") && safe.contains("\\u202e"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
