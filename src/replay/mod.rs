//! The files driver: read inputs as sources interleaved by event time (a
//! [`Merge`]), parse and enrich them on worker threads, route each token's
//! events to one engine session (by state key), and feed every session the
//! same progress of every source, so all sessions move their watermark at
//! the same points of the input. Findings are written as the watermark
//! passes them, in (time, rule, token) order: the output does not depend on
//! the thread count, and memory does not grow with the findings.

mod findings;
mod inline;
mod merge;
mod pipeline;
mod read;

pub mod baseline;
pub use findings::Ordered;
pub use inline::{run as run_inline, scan};
pub use merge::Merge;
pub use pipeline::{run, Baselines, ReplayError, ReplayOptions, ReplayReport, Worker};
pub use read::{expand_inputs, open_input, Chunk, LineChunker, ReadError};

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::IStr;

/// Bad lines, counted by kind (with `--skip-errors`), and the first few.
#[derive(Default, Debug, Clone)]
pub struct ErrorTally {
    pub by_kind: BTreeMap<&'static str, u64>,
    pub examples: Vec<String>,
}

impl ErrorTally {
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
    pub fn add(&mut self, kind: &'static str, msg: String) {
        *self.by_kind.entry(kind).or_default() += 1;
        if self.examples.len() < 5 {
            self.examples.push(msg);
        }
    }
}

/// How an input is named in source positions.
fn input_name(f: &Path) -> IStr {
    if f.as_os_str() == "-" {
        "<stdin>".into()
    } else {
        f.display().to_string().as_str().into()
    }
}
