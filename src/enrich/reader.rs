//! The one ingest + enrich step every driver uses (replay's workers, the
//! stream's ingest stage and keyed-input detect, investigate, the rule
//! self-tests): a log line or Kafka record in, enriched events out, every
//! problem reported, nothing else.

use std::sync::Arc;

use super::GeoLookup;
use crate::ingest::{IngestCounts, IngestError, Ingestor, Profile};
use crate::model::{AccessEvent, SourcePos};

pub struct Reader {
    pub ingest: Ingestor,
    geo: Option<GeoLookup>,
}

/// Builds a [`Reader`] per thread, for a profile (`None`: the configured one).
pub type ReaderFactory = Arc<dyn Fn(Option<Profile>) -> Reader + Send + Sync>;

impl Reader {
    pub fn new(ingest: Ingestor, geo: Option<GeoLookup>) -> Self {
        Reader { ingest, geo }
    }

    /// Parse `line` into `out` (enriched), its problems into `errors`: the
    /// whole line's, or one per bad record of a batch.
    pub fn read(&mut self, line: &[u8], source: &SourcePos, out: &mut Vec<AccessEvent>, errors: &mut Vec<IngestError>) {
        let start = out.len();
        self.ingest.ingest_all(line, source, out, errors);
        if let Some(g) = self.geo.as_mut() {
            for ev in &mut out[start..] {
                g.enrich(ev);
            }
        }
    }

    /// What ingest repaired or distrusted so far.
    pub fn counts(&self) -> IngestCounts {
        self.ingest.counts
    }

    /// Distinct raw tokens decoded so far.
    pub fn decoded(&self) -> u64 {
        self.ingest.tokens.decoded
    }
}
