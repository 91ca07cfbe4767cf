//! Replay on the calling thread (`--threads 1`): read, parse, enrich and
//! judge in one loop, with no channels. The cheapest path per event; the
//! measure of events per second per core.

use std::path::PathBuf;
use std::sync::Arc;

use super::pipeline::{parse_chunk, ReplayError, ReplayOptions, ReplayReport, Worker};
use super::read::{open_input, LineChunker};
use crate::engine::{Engine, RevocationView};
use crate::rules::RuleSet;

pub fn run(
    files: &[PathBuf],
    opts: &ReplayOptions,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    make_worker: Worker,
) -> Result<ReplayReport, ReplayError> {
    let (mut ingest, mut geo) = make_worker();
    let mut engine = Engine::new(rules, revocations, opts.engine);
    let mut report = ReplayReport::default();
    let mut seq = 0;
    for f in files {
        let name: Arc<str> = if f.as_os_str() == "-" { "<stdin>".into() } else { f.display().to_string().into() };
        let mut ch = LineChunker::new(open_input(f)?, name, opts.max_line_bytes, opts.chunk_bytes);
        while let Some(c) = ch.next_chunk(seq)? {
            seq += 1;
            let findings = &mut report.findings;
            let p = parse_chunk(&c, &mut ingest, &mut geo, |ev| findings.extend(engine.observe(ev)));
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
    report.findings.extend(engine.drain());
    report.engine = engine.stats();
    report.tokens_decoded = ingest.tokens.decoded;
    report.findings.sort_by(|a, b| {
        (a.time, &a.rule_id, a.token.id.display_id()).cmp(&(b.time, &b.rule_id, b.token.id.display_id()))
    });
    Ok(report)
}
