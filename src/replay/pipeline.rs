//! The replay pipeline: reader thread -> parse/enrich workers -> engine shards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::read::{expand_inputs, open_input, Chunk, LineChunker, ReadError};
use super::ErrorTally;
use crate::engine::{Engine, EngineConfig, EngineStats, RevocationView};
use crate::enrich::GeoLookup;
use crate::ingest::{IngestError, Ingestor};
use crate::model::{AccessEvent, Finding, SourcePos};
use crate::rules::RuleSet;

/// Builds one parse/enrich worker (each thread owns its caches).
pub type Worker = Box<dyn Fn() -> (Ingestor, Option<GeoLookup>) + Send + Sync>;

pub struct ReplayOptions {
    pub inputs: Vec<PathBuf>,
    pub threads: usize,
    pub skip_errors: bool,
    pub max_line_bytes: usize,
    pub chunk_bytes: usize,
    pub engine: EngineConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{pos}: {err} (use --skip-errors to count bad lines and go on)")]
    BadLine { pos: SourcePos, err: IngestError },
}

#[derive(Debug, Default)]
pub struct ReplayReport {
    pub findings: Vec<Finding>,
    pub lines: u64,
    pub events: u64,
    pub errors: ErrorTally,
    pub engine: EngineStats,
    pub tokens_decoded: u64,
}

/// A chunk's events for one shard, tagged with the chunk's sequence number.
type Batch = (u64, Vec<AccessEvent>);

pub(super) struct Parsed {
    pub lines: u64,
    pub events: u64,
    pub errors: Vec<(SourcePos, IngestError)>,
}

pub fn run(
    opts: ReplayOptions,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    make_worker: Worker,
) -> Result<ReplayReport, ReplayError> {
    let files = expand_inputs(&opts.inputs)?;
    let threads = opts.threads.max(1);
    if threads == 1 {
        return super::inline::run(&files, &opts, rules, revocations, make_worker);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(threads * 4);
    let (done_tx, done_rx) = bounded::<(Parsed, u64)>(1024);
    // The engine judges ~3 M events/s, a parse worker ~1 M lines/s: one
    // engine shard keeps up with three parse workers.
    let shards = threads.div_ceil(3);
    let shard_chans: Vec<(Sender<Batch>, Receiver<Batch>)> = (0..shards).map(|_| bounded(threads * 8)).collect();

    std::thread::scope(|s| {
        let reader = {
            let stop = stop.clone();
            let (files, max_line, chunk_bytes) = (files.clone(), opts.max_line_bytes, opts.chunk_bytes);
            s.spawn(move || read_all(&files, max_line, chunk_bytes, &chunk_tx, &stop))
        };
        let shard_txs: Vec<_> = shard_chans.iter().map(|(t, _)| t.clone()).collect();
        let make_worker = &make_worker;
        for _ in 0..threads {
            let (rx, txs, done) = (chunk_rx.clone(), shard_txs.clone(), done_tx.clone());
            s.spawn(move || parse_worker(make_worker(), rx, txs, done));
        }
        drop((chunk_rx, done_tx, shard_txs));
        let shards: Vec<_> = shard_chans
            .into_iter()
            .map(|(tx, rx)| {
                drop(tx);
                let (rules, revs, mut cfg) = (rules.clone(), revocations.clone(), opts.engine);
                // the token cap is for the whole run: each shard holds its share
                cfg.limits = cfg.limits.share(shards);
                s.spawn(move || shard(Engine::new(rules, revs, cfg), rx))
            })
            .collect();
        let mut report = ReplayReport::default();
        let mut first_error: Option<(SourcePos, IngestError)> = None;
        for (p, decoded) in done_rx.iter() {
            report.lines += p.lines;
            report.events += p.events;
            report.tokens_decoded += decoded;
            for (pos, err) in p.errors {
                if opts.skip_errors {
                    report.errors.add(err.kind(), format!("{pos}: {err}"));
                } else {
                    stop.store(true, Ordering::Relaxed);
                    if first_error.as_ref().is_none_or(|(f, _)| pos < *f) {
                        first_error = Some((pos, err));
                    }
                }
            }
        }
        let read_result = reader.join().expect("reader thread");
        for h in shards {
            let (findings, stats) = h.join().expect("shard thread");
            report.findings.extend(findings);
            merge_stats(&mut report.engine, stats);
        }
        if let Some((pos, err)) = first_error {
            return Err(ReplayError::BadLine { pos, err });
        }
        read_result?;
        super::sort_findings(&mut report.findings);
        Ok(report)
    })
}

fn read_all(
    files: &[PathBuf],
    max_line: usize,
    chunk_bytes: usize,
    tx: &Sender<Chunk>,
    stop: &AtomicBool,
) -> Result<(), ReadError> {
    let mut seq = 0;
    for f in files {
        let name = super::input_name(f);
        let mut ch = LineChunker::new(open_input(f)?, name, max_line, chunk_bytes);
        while let Some(c) = ch.next_chunk(seq)? {
            if stop.load(Ordering::Relaxed) || tx.send(c).is_err() {
                return Ok(());
            }
            seq += 1;
        }
    }
    Ok(())
}

/// Parse and enrich one chunk: every event goes to `emit`, every bad line
/// (with its position) into the returned record.
pub(super) fn parse_chunk(
    c: &Chunk,
    ingest: &mut Ingestor,
    geo: &mut Option<GeoLookup>,
    mut emit: impl FnMut(AccessEvent),
) -> Parsed {
    let mut p = Parsed { lines: (c.lines.len() + c.oversize.len()) as u64, events: 0, errors: Vec::new() };
    for &(line, len) in &c.oversize {
        let err = IngestError::TooLong { len, max: c.max_line };
        p.errors.push((SourcePos::File { path: c.file.clone(), line }, err));
    }
    let mut evs = Vec::new();
    let mut errs = Vec::new();
    for &(s, e, line) in &c.lines {
        let pos = SourcePos::File { path: c.file.clone(), line };
        evs.clear();
        ingest.ingest_all(&c.data[s as usize..e as usize], &pos, &mut evs, &mut errs);
        for err in errs.drain(..) {
            p.errors.push((pos.clone(), err));
        }
        for mut ev in evs.drain(..) {
            if let Some(g) = geo.as_mut() {
                g.enrich(&mut ev);
            }
            p.events += 1;
            emit(ev);
        }
    }
    p
}

fn parse_worker(
    (mut ingest, mut geo): (Ingestor, Option<GeoLookup>),
    rx: Receiver<Chunk>,
    shards: Vec<Sender<Batch>>,
    done: Sender<(Parsed, u64)>,
) {
    let n = shards.len() as u64;
    let mut decoded_before = 0;
    for c in rx.iter() {
        let mut out: Vec<Vec<AccessEvent>> = (0..n).map(|_| Vec::new()).collect();
        let p = parse_chunk(&c, &mut ingest, &mut geo, |ev| {
            let shard = ev.token.as_ref().map_or(0, |t| t.key.lo64() % n);
            out[shard as usize].push(ev);
        });
        for (i, v) in out.into_iter().enumerate() {
            if shards[i].send((c.seq, v)).is_err() {
                return;
            }
        }
        let decoded = ingest.tokens.decoded - decoded_before;
        decoded_before = ingest.tokens.decoded;
        if done.send((p, decoded)).is_err() {
            return;
        }
    }
}

/// Feed one engine in chunk order (chunks arrive from workers in any order).
fn shard(mut engine: Engine, rx: Receiver<Batch>) -> (Vec<Finding>, EngineStats) {
    let mut pending: BTreeMap<u64, Vec<AccessEvent>> = BTreeMap::new();
    let mut next = 0u64;
    let mut findings = Vec::new();
    let mut feed = |evs: Vec<AccessEvent>, engine: &mut Engine| {
        for ev in evs {
            findings.extend(engine.observe(ev));
        }
    };
    for (seq, evs) in rx.iter() {
        pending.insert(seq, evs);
        while let Some(evs) = pending.remove(&next) {
            feed(evs, &mut engine);
            next += 1;
        }
    }
    // Chunks after a gap (a stopped run) are still judged in order.
    for (_, evs) in std::mem::take(&mut pending) {
        feed(evs, &mut engine);
    }
    findings.extend(engine.drain());
    (findings, engine.stats())
}

fn merge_stats(a: &mut EngineStats, b: EngineStats) {
    a.events += b.events;
    a.without_token += b.without_token;
    a.late += b.late;
    a.findings += b.findings;
    a.suppressed_by_dedup += b.suppressed_by_dedup;
    a.tracked_tokens += b.tracked_tokens;
    a.buffered += b.buffered;
    a.evictions.ttl += b.evictions.ttl;
    a.evictions.cap += b.evictions.cap;
}
