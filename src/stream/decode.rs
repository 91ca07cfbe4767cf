//! How a record of a consumed topic becomes events (the detect stage).

use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use super::detect::Decoder;
use super::ingest::BadRecord;
use super::metrics::Metrics;
use super::wire;
use crate::model::{AccessEvent, EventTime};

/// What a record held.
pub enum Decoded {
    /// Events (in the buffer given), and a problem to dead-letter.
    Events(Option<BadRecord>),
    /// Watermarks of gateway partitions.
    Marks(Vec<(String, EventTime)>),
}

/// Decode a record; the problem to dead-letter, if any (a Kong batch
/// read directly may have good records beside it).
pub fn decode(d: &mut Decoder, m: &BorrowedMessage<'_>, events: &mut Vec<(AccessEvent, u32)>, mx: &Metrics) -> Decoded {
    let payload = m.payload().unwrap_or_default();
    match d {
        // a pack with a bad entry keeps its good events
        Decoder::Wire(strings) => match wire::decode_events(payload, strings, events) {
            Ok(None) => Decoded::Events(None),
            Ok(Some(marks)) => Decoded::Marks(marks),
            Err(e) => Decoded::Events(Some(BadRecord::Wire(e))),
        },
        Decoder::Raw(p) => {
            let mut evs = Vec::new();
            let bad = p.parse(m.topic(), m.partition(), m.offset(), payload, &mut evs);
            mx.ingested(&p.take_counts());
            events.extend(evs.into_iter().enumerate().map(|(i, e)| (e, i as u32)));
            Decoded::Events(bad)
        }
    }
}
