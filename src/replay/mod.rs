//! The files driver: read inputs in chunks of lines, parse and enrich them on
//! worker threads, route each token's events to one engine shard (by state
//! key), and feed every shard in input order. Findings are sorted before
//! they are written, so the output does not depend on the thread count.

mod inline;
mod pipeline;
mod read;

pub use inline::scan;
pub use pipeline::{run, ReplayOptions, ReplayReport, Worker};
pub use read::{expand_inputs, open_input, Chunk, LineChunker, ReadError};

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::{Finding, IStr};

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

/// The output order of findings, whatever the thread count.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by_cached_key(|f| (f.time, f.rule_id.clone(), f.token.id.display_id()));
}
