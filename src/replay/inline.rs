//! Replay on the calling thread (`--threads 1`, and investigate): read the
//! merged inputs, parse, enrich and judge in one loop, with no channels.
//! The cheapest path per event; the measure of events per second per core.
//! Also [`scan`]: every event of the inputs in file order, without judging
//! (export).

use std::path::PathBuf;
use std::sync::Arc;

use super::findings::Ordered;
use super::merge::Merge;
use super::pipeline::{parse_chunk, ReplayError, ReplayOptions, ReplayReport, Worker};
use super::read::{open_input, LineChunker};
use crate::engine::{RevocationView, Session};
use crate::model::{AccessEvent, EventTime, Finding};
use crate::rules::RuleSet;

/// Tally a chunk's lines and bad lines; strict mode stops at the first.
fn tally(report: &mut ReplayReport, p: super::pipeline::Parsed, skip: bool) -> Result<Option<EventTime>, ReplayError> {
    report.lines += p.lines;
    report.events += p.events;
    report.ingest.add(&p.counts);
    for (pos, err) in p.errors {
        if !skip {
            return Err(ReplayError::BadLine { pos, err });
        }
        report.errors.add(err.kind(), format!("{pos}: {err}"));
    }
    Ok(p.newest)
}

/// Feed every event of `files`, in file order, to `each`. Bad lines stop
/// the scan (strict) or are counted (`skip_errors`).
pub fn scan(
    files: &[PathBuf],
    opts: &ReplayOptions,
    make_worker: Worker,
    mut each: impl FnMut(AccessEvent),
) -> Result<ReplayReport, ReplayError> {
    let mut reader = make_worker();
    let mut report = ReplayReport::default();
    let mut seq = 0;
    for f in files {
        let name = super::input_name(f);
        let mut ch = LineChunker::new(open_input(f)?, name, opts.max_line_bytes, opts.chunk_bytes);
        while let Some(c) = ch.next_chunk(seq)? {
            seq += 1;
            let p = parse_chunk(&c, &mut reader, &mut each);
            tally(&mut report, p, opts.skip_errors)?;
        }
    }
    report.tokens_decoded = reader.decoded();
    Ok(report)
}

/// Replay on this thread: the merged inputs through one session. Every
/// event also goes to `on_event` (investigate writes them to Parquet);
/// every finding to `emit`, in order.
pub fn run(
    files: &[PathBuf],
    opts: &ReplayOptions,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    make_worker: Worker,
    mut on_event: Option<&mut dyn FnMut(&AccessEvent)>,
    emit: &mut dyn FnMut(Finding),
) -> Result<ReplayReport, ReplayError> {
    let mut reader = make_worker();
    let mut session = Session::new(rules, revocations, opts.engine);
    session.restore_subjects(opts.baselines.iter().cloned());
    let mut merge = Merge::new(files, opts.max_line_bytes, opts.chunk_bytes);
    for s in 0..merge.sources() as u32 {
        session.open_source(s);
    }
    let mut report = ReplayReport::default();
    let mut ordered = Ordered::default();
    let mut found: Vec<Finding> = Vec::new();
    let mut write = |f: Finding, report: &mut ReplayReport| {
        report.count(&f);
        emit(f);
    };
    while let Some((src, c)) = merge.next_chunk()? {
        let p = parse_chunk(&c, &mut reader, |ev| {
            if let Some(h) = on_event.as_mut() {
                h(&ev);
            }
            session.push(src, ev, &mut found);
        });
        if let Some(t) = tally(&mut report, p, opts.skip_errors)? {
            session.seen(src, t);
            merge.report(src, t);
        }
        if c.last {
            session.end_source(src);
        }
        session.advance(&mut found);
        ordered.extend(found.drain(..));
        ordered.flush(session.watermark(), &mut |f| write(f, &mut report));
    }
    session.finish(&mut found);
    ordered.extend(found);
    ordered.flush(EventTime::MAX, &mut |f| write(f, &mut report));
    report.engine = session.stats();
    if opts.keep_baselines {
        report.baselines = session.subjects();
    }
    report.tokens_decoded = reader.decoded();
    Ok(report)
}
