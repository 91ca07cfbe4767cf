//! Replay on the calling thread (`--threads 1`): read, parse, enrich and
//! judge in one loop, with no channels. The cheapest path per event; the
//! measure of events per second per core.

use std::path::PathBuf;
use std::sync::Arc;

use super::pipeline::{parse_chunk, ReplayError, ReplayOptions, ReplayReport, Worker};
use super::read::{open_input, LineChunker};
use crate::engine::{Engine, RevocationView};
use crate::model::AccessEvent;
use crate::rules::RuleSet;

/// Feed every event of `files`, in input order, to `each`. Bad lines stop
/// the scan (strict) or are counted (`skip_errors`).
pub fn scan(
    files: &[PathBuf],
    opts: &ReplayOptions,
    make_worker: Worker,
    mut each: impl FnMut(AccessEvent),
) -> Result<ReplayReport, ReplayError> {
    let (mut ingest, mut geo) = make_worker();
    let mut report = ReplayReport::default();
    let mut seq = 0;
    for f in files {
        let name = super::input_name(f);
        let mut ch = LineChunker::new(open_input(f)?, name, opts.max_line_bytes, opts.chunk_bytes);
        while let Some(c) = ch.next_chunk(seq)? {
            seq += 1;
            let p = parse_chunk(&c, &mut ingest, &mut geo, &mut each);
            report.lines += p.lines;
            report.events += p.events;
            for (pos, err) in p.errors {
                if !opts.skip_errors {
                    return Err(ReplayError::BadLine { pos, err });
                }
                report.errors.add(err.kind(), format!("{pos}: {err}"));
            }
        }
    }
    report.tokens_decoded = ingest.tokens.decoded;
    Ok(report)
}

/// Replay on this thread: scan, judging each event.
pub fn run(
    files: &[PathBuf],
    opts: &ReplayOptions,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    make_worker: Worker,
) -> Result<ReplayReport, ReplayError> {
    let mut engine = Engine::new(rules, revocations, opts.engine);
    let mut findings = Vec::new();
    let mut report = scan(files, opts, make_worker, |ev| findings.extend(engine.observe(ev)))?;
    findings.extend(engine.drain());
    report.engine = engine.stats();
    report.findings = findings;
    super::sort_findings(&mut report.findings);
    Ok(report)
}
