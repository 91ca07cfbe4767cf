//! The replay pipeline: reader thread (a [`Merge`] of the inputs) -> parse /
//! enrich workers -> engine sessions (one per shard) -> the calling thread,
//! which tallies lines and errors and writes findings in order.
//!
//! Every shard gets a message for every chunk, even one with none of its
//! tokens' events: the chunk's source and newest event time (or the end of
//! its source). Shards take chunks in sequence order, so every session
//! learns the same progress at the same points and moves its watermark
//! alike, whatever the thread count.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};

use super::findings::Ordered;
use super::merge::Merge;
use super::read::{expand_inputs, Chunk, ReadError};
use super::ErrorTally;
use crate::engine::subjects::{Subject, SubjectId};
use crate::engine::{EngineConfig, EngineStats, RevocationView, Session};
use crate::enrich::Reader;
use crate::ingest::{IngestCounts, IngestError};
use crate::model::{subject_route, AccessEvent, EventTime, Finding, SourcePos};
use crate::rules::RuleSet;

/// Builds one parse/enrich worker (each thread owns its caches).
pub type Worker = Box<dyn Fn() -> Reader + Send + Sync>;

pub struct ReplayOptions {
    pub inputs: Vec<PathBuf>,
    pub threads: usize,
    pub skip_errors: bool,
    pub max_line_bytes: usize,
    pub chunk_bytes: usize,
    pub engine: EngineConfig,
    /// Subject baselines to start from (`--baseline`).
    pub baselines: Arc<Baselines>,
    /// Return the subject baselines at the end (in the report).
    pub keep_baselines: bool,
}

/// Saved subject baselines.
pub type Baselines = Vec<(SubjectId, Subject)>;

/// The saved subjects a shard of `n` holds (the engine's routing).
pub(super) fn share_of(all: &Baselines, i: usize, n: usize) -> impl Iterator<Item = (SubjectId, Subject)> + '_ {
    all.iter().filter(move |(id, _)| (subject_route(&id.0, &id.1) % n as u64) as usize == i).cloned()
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
    /// Findings written, in all and by rule.
    pub findings: u64,
    pub by_rule: BTreeMap<String, u64>,
    pub lines: u64,
    pub events: u64,
    pub errors: ErrorTally,
    pub engine: EngineStats,
    pub tokens_decoded: u64,
    /// Lines read in spite of something odd (bytes that are not UTF-8).
    pub ingest: IngestCounts,
    /// The subject baselines at the end (with `keep_baselines`), sorted.
    pub baselines: Baselines,
}

impl ReplayReport {
    /// Count a finding on its way out.
    pub fn count(&mut self, f: &Finding) {
        self.findings += 1;
        *self.by_rule.entry(f.rule_id.to_string()).or_default() += 1;
    }
}

/// What a shard learns of one chunk: its events for the shard, and the
/// source's progress (or its end).
struct Batch {
    seq: u64,
    source: u32,
    progress: Option<EventTime>,
    end: bool,
    events: Vec<AccessEvent>,
}

/// What a shard says after each chunk: findings, and its watermark.
type ShardOut = (usize, Vec<Finding>, EventTime);

pub(super) struct Parsed {
    pub lines: u64,
    pub events: u64,
    /// The newest event time of the chunk.
    pub newest: Option<EventTime>,
    pub errors: Vec<(SourcePos, IngestError)>,
    /// What ingest repaired or distrusted in this chunk.
    pub counts: IngestCounts,
}

/// Replay `opts.inputs`: every finding goes to `emit`, in order.
pub fn run(
    opts: ReplayOptions,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    make_worker: Worker,
    emit: &mut dyn FnMut(Finding),
) -> Result<ReplayReport, ReplayError> {
    let files = expand_inputs(&opts.inputs)?;
    let threads = opts.threads.max(1);
    if threads == 1 {
        return super::inline::run(&files, &opts, rules, revocations, make_worker, None, emit);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (chunk_tx, chunk_rx) = bounded::<(u32, Chunk)>(threads * 4);
    let (progress_tx, progress_rx) = unbounded::<(u32, EventTime)>();
    let (done_tx, done_rx) = bounded::<(Parsed, u64)>(1024);
    // small: a shard waits for the writer rather than piling findings up
    let (out_tx, out_rx) = bounded::<ShardOut>(threads * 2);
    // The engine judges ~3 M events/s, a parse worker ~1 M lines/s: one
    // engine shard keeps up with three parse workers.
    let shards = threads.div_ceil(3);
    let shard_chans: Vec<(Sender<Batch>, Receiver<Batch>)> = (0..shards).map(|_| bounded(threads * 8)).collect();
    let sources = files.len() as u32;

    std::thread::scope(|s| {
        let reader = {
            let stop = stop.clone();
            let (files, max_line, chunk_bytes) = (files.clone(), opts.max_line_bytes, opts.chunk_bytes);
            s.spawn(move || read_all(&files, max_line, chunk_bytes, &chunk_tx, &progress_rx, &stop))
        };
        let shard_txs: Vec<_> = shard_chans.iter().map(|(t, _)| t.clone()).collect();
        let make_worker = &make_worker;
        for _ in 0..threads {
            let (rx, txs, done, prog) = (chunk_rx.clone(), shard_txs.clone(), done_tx.clone(), progress_tx.clone());
            std::thread::Builder::new()
                .name("tokenhound-parse".into())
                .stack_size(crate::ingest::scan::PARSE_STACK_BYTES)
                .spawn_scoped(s, move || parse_worker(make_worker(), rx, txs, done, prog))
                .expect("a parse worker thread");
        }
        drop((chunk_rx, done_tx, shard_txs, progress_tx));
        let handles: Vec<_> = shard_chans
            .into_iter()
            .enumerate()
            .map(|(i, (tx, rx))| {
                drop(tx);
                let (rules, revs, mut cfg, out) = (rules.clone(), revocations.clone(), opts.engine, out_tx.clone());
                // the caps are for the whole run: each shard holds its share
                cfg.limits = cfg.limits.share(shards);
                cfg.baselines = cfg.baselines.share(shards);
                let (saved, keep) = (opts.baselines.clone(), opts.keep_baselines);
                s.spawn(move || {
                    let mut session = Session::new(rules, revs, cfg);
                    session.restore_subjects(share_of(&saved, i, shards));
                    let stats = shard(i, &mut session, sources, rx, out);
                    (stats, if keep { session.subjects() } else { Vec::new() })
                })
            })
            .collect();
        drop(out_tx);
        let mut report = ReplayReport::default();
        let mut first_error: Option<(SourcePos, IngestError)> = None;
        let mut ordered = Ordered::default();
        let mut marks = vec![EventTime::MIN; shards];
        let mut write = |f: Finding, report: &mut ReplayReport| {
            report.count(&f);
            emit(f);
        };
        let (mut parsing, mut judging) = (true, true);
        while parsing || judging {
            select! {
                recv(done_rx) -> m => match m {
                    Ok((p, decoded)) => {
                        report.lines += p.lines;
                        report.events += p.events;
                        report.tokens_decoded += decoded;
                        report.ingest.add(&p.counts);
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
                    Err(_) => parsing = false,
                },
                recv(out_rx) -> m => match m {
                    Ok((i, fs, wm)) => {
                        ordered.extend(fs);
                        marks[i] = marks[i].max(wm);
                        let upto = marks.iter().copied().min().unwrap_or(EventTime::MIN);
                        ordered.flush(upto, &mut |f| write(f, &mut report));
                    }
                    Err(_) => judging = false,
                },
            }
        }
        let read_result = reader.join().expect("reader thread");
        for h in handles {
            let (stats, subjects) = h.join().expect("shard thread");
            report.engine.merge(&stats);
            report.baselines.extend(subjects);
        }
        report.baselines.sort_by(|a, b| a.0.cmp(&b.0));
        ordered.flush(EventTime::MAX, &mut |f| write(f, &mut report));
        if let Some((pos, err)) = first_error {
            return Err(ReplayError::BadLine { pos, err });
        }
        read_result?;
        Ok(report)
    })
}

fn read_all(
    files: &[PathBuf],
    max_line: usize,
    chunk_bytes: usize,
    tx: &Sender<(u32, Chunk)>,
    progress: &Receiver<(u32, EventTime)>,
    stop: &AtomicBool,
) -> Result<(), ReadError> {
    let mut merge = Merge::new(files, max_line, chunk_bytes);
    loop {
        // what the workers have parsed so far steers which input is read next
        while let Ok((src, t)) = progress.try_recv() {
            merge.report(src, t);
        }
        let Some(next) = merge.next_chunk()? else { return Ok(()) };
        if stop.load(Ordering::Relaxed) || tx.send(next).is_err() {
            return Ok(());
        }
    }
}

/// Parse and enrich one chunk: every event goes to `emit`, every bad line
/// (with its position) into the returned record.
pub(super) fn parse_chunk(c: &Chunk, reader: &mut Reader, mut emit: impl FnMut(AccessEvent)) -> Parsed {
    let before = reader.counts();
    let mut p = Parsed {
        lines: (c.lines.len() + c.oversize.len()) as u64,
        events: 0,
        newest: None,
        errors: Vec::new(),
        counts: IngestCounts::default(),
    };
    for &(line, len) in &c.oversize {
        let err = IngestError::TooLong { len, max: c.max_line };
        p.errors.push((SourcePos::File { path: c.file.clone(), line }, err));
    }
    let mut evs = Vec::new();
    let mut errs = Vec::new();
    for &(s, e, line) in &c.lines {
        let pos = SourcePos::File { path: c.file.clone(), line };
        evs.clear();
        reader.read(&c.data[s as usize..e as usize], &pos, &mut evs, &mut errs);
        for err in errs.drain(..) {
            p.errors.push((pos.clone(), err));
        }
        for ev in evs.drain(..) {
            p.events += 1;
            p.newest = p.newest.max(Some(ev.time));
            emit(ev);
        }
    }
    p.counts = reader.counts().since(&before);
    p
}

fn parse_worker(
    mut reader: Reader,
    rx: Receiver<(u32, Chunk)>,
    shards: Vec<Sender<Batch>>,
    done: Sender<(Parsed, u64)>,
    progress: Sender<(u32, EventTime)>,
) {
    let n = shards.len() as u64;
    let mut decoded_before = 0;
    for (source, c) in rx.iter() {
        let mut out: Vec<Vec<AccessEvent>> = (0..n).map(|_| Vec::new()).collect();
        let p = parse_chunk(&c, &mut reader, |ev| {
            let shard = ev.token.as_ref().map_or(0, |t| t.route() % n);
            out[shard as usize].push(ev);
        });
        if let Some(t) = p.newest {
            let _ = progress.send((source, t));
        }
        for (i, events) in out.into_iter().enumerate() {
            let b = Batch { seq: c.seq, source, progress: p.newest, end: c.last, events };
            if shards[i].send(b).is_err() {
                return;
            }
        }
        let decoded = reader.decoded() - decoded_before;
        decoded_before = reader.decoded();
        if done.send((p, decoded)).is_err() {
            return;
        }
    }
}

/// Feed one session in chunk order (chunks arrive from workers in any order).
fn shard(i: usize, session: &mut Session, sources: u32, rx: Receiver<Batch>, out: Sender<ShardOut>) -> EngineStats {
    for s in 0..sources {
        session.open_source(s);
    }
    let mut pending: BTreeMap<u64, Batch> = BTreeMap::new();
    let mut next = 0u64;
    let take = |b: Batch, session: &mut Session| {
        let mut found = Vec::new();
        for ev in b.events {
            session.push(b.source, ev, &mut found);
        }
        if let Some(t) = b.progress {
            session.seen(b.source, t);
        }
        if b.end {
            session.end_source(b.source);
        }
        session.advance(&mut found);
        let _ = out.send((i, found, session.watermark()));
    };
    for b in rx.iter() {
        pending.insert(b.seq, b);
        while let Some(b) = pending.remove(&next) {
            take(b, session);
            next += 1;
        }
    }
    // Chunks after a gap (a stopped run) are still judged in order.
    for (_, b) in std::mem::take(&mut pending) {
        take(b, session);
    }
    let mut found = Vec::new();
    session.finish(&mut found);
    let _ = out.send((i, found, EventTime::MAX));
    session.stats()
}
