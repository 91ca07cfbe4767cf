//! Loading for `investigate`: gateway logs of any profile (NDJSON, `.gz`,
//! `.zst`, directories) go through the ingest pipeline once, into a Parquet
//! file of normalized events in the output directory, while the shared engine
//! detects on the same pass (the copy is written on a thread of its own); Parquet files written by `tokenhound export`
//! are scanned as they are, in time order (streamed in slices when they are
//! in order within the allowed lateness, through an external merge sort
//! when not) and fed to the engine.
//! Everything then is one polars `LazyFrame` over Parquet.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use polars::prelude::{
    col, concat, DataFrame, DataType, LazyFrame, ParquetReader, PlRefPath, ScanArgsParquet, SerReader, UnionArgs,
};

use super::budget::Budget;
use super::events::EventReader;
use super::firstuse::FirstUses;
use super::progress::Progress;
use crate::engine::{RevocationView, Session};
use crate::model::{AccessEvent, Finding};
use crate::replay::{self, ReplayOptions, Worker};
use crate::rules::RuleSet;
use crate::token::IdentityKeys;

/// The normalized events (Parquet files) and what the engine found in them.
pub struct Loaded {
    pub parquet: Vec<PathBuf>,
    pub findings: Vec<Finding>,
    /// Every token's first use (for the root cause).
    pub first_uses: FirstUses,
    /// Findings not detailed (over the [`Budget`]), by rule.
    pub not_detailed: std::collections::BTreeMap<String, u64>,
    pub events: u64,
    pub bad_lines: u64,
}

fn is_parquet(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn is_csv(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Load every input; detect unless `detect` is false (alerts come from a file).
#[allow(clippy::too_many_arguments)]
pub fn load(
    inputs: &[PathBuf],
    opts: &ReplayOptions,
    worker: Worker,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    ids: &IdentityKeys,
    out_dir: &Path,
    detect: bool,
) -> Result<Loaded> {
    super::progress::phase_end("start");
    let (tables, logs): (Vec<PathBuf>, Vec<PathBuf>) = inputs.iter().cloned().partition(|p| is_parquet(p) || is_csv(p));
    let mut parquet_in = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        if is_csv(&t) {
            let p = out_dir.join(format!("csv-{i}.parquet"));
            super::csv::to_parquet(&t, &p)?;
            parquet_in.push(p);
        } else {
            parquet_in.push(t);
        }
    }
    let mut loaded = Loaded {
        parquet: parquet_in.clone(),
        findings: Vec::new(),
        first_uses: FirstUses::default(),
        not_detailed: Default::default(),
        events: 0,
        bad_lines: 0,
    };
    let mut budget = Budget::default();
    if !logs.is_empty() {
        let files = replay::expand_inputs(&logs)?;
        let out = out_dir.join("events.parquet");
        let mut copy = super::copy::Copy::create(&out)?;
        let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        let bar = Progress::bytes("reading gateway logs", bytes);
        let mut copying = true;
        let mut n = 0u64;
        let mut each = |ev: &AccessEvent| {
            n += 1;
            if n.is_multiple_of(65_536) {
                bar.set(n);
            }
            if copying {
                copying = copy.push(ev);
            }
        };
        // the replay driver itself: the same sources, watermark and session
        let report = if detect {
            let (rules, revs) = (rules.clone(), revocations.clone());
            let (found, budget) = (&mut loaded.findings, &mut budget);
            let mut emit = |f: Finding| {
                if budget.admit(&f.token.id.display_id(), &f.rule_id) {
                    found.push(f);
                }
            };
            replay::run_inline(&files, opts, rules, revs, worker, Some(&mut each), &mut emit)?
        } else {
            replay::scan(&files, opts, worker, |ev| each(&ev))?
        };
        loaded.first_uses = copy.finish()?;
        bar.finish(&format!("{n} events from {} lines", report.lines));
        loaded.events += n;
        loaded.bad_lines += report.errors.total();
        loaded.parquet.push(out);
    }
    if !parquet_in.is_empty() {
        let lateness_us = opts.engine.allowed_lateness_secs * 1_000_000;
        let (rows, in_order) = time_order(&parquet_in, lateness_us)?;
        loaded.events += rows as u64;
        if detect {
            let bar = Progress::count("detecting", rows as u64);
            // one source, in time order within the lateness (or sorted)
            let mut session = Session::new(rules, revocations, opts.engine);
            let found = &mut loaded.findings;
            let firsts = &mut loaded.first_uses;
            let mut reader = EventReader::new(ids);
            let mut feed = |df: &DataFrame, done: u64| {
                let each = |ev: AccessEvent| {
                    firsts.observe(&ev);
                    let before = found.len();
                    session.push(0, ev, found);
                    budget.keep(found, before);
                };
                let r = reader.each(df, each, &bar, done);
                let before = found.len();
                session.advance(found);
                budget.keep(found, before);
                r
            };
            if in_order {
                // already in time order within the allowed lateness (an export is):
                // stream it a slice at a time; the engine's reorder buffer does the rest
                let mut done = 0u64;
                for (file, start, n) in slices(&parquet_in, SLICE)? {
                    feed(&read_slice(&file, start, n, None)?, done)?;
                    done += n as u64;
                }
            } else {
                // out of order: an external merge sort, bounded memory
                let runs = super::sort::runs(&parquet_in, rows, super::sort::RUN, out_dir)?;
                let found = &mut loaded.findings;
                let firsts = &mut loaded.first_uses;
                let mut n = 0u64;
                let budget = &mut budget;
                super::sort::merge(&runs, ids, &bar, |ev| {
                    firsts.observe(&ev);
                    let before = found.len();
                    session.push(0, ev, found);
                    n += 1;
                    if n.is_multiple_of(4096) {
                        session.advance(found);
                    }
                    budget.keep(found, before);
                })?;
            }
            let before = loaded.findings.len();
            session.finish(&mut loaded.findings);
            budget.keep(&mut loaded.findings, before);
            bar.finish(if in_order { "done (in time order: streamed)" } else { "done (sorted: external merge)" });
        }
    }
    if detect {
        loaded.findings.sort_by(|a, b| (a.time, &a.uid).cmp(&(b.time, &b.uid)));
    }
    loaded.not_detailed = budget.dropped;
    Ok(loaded)
}

/// Rows handed to the engine at a time when the input is in time order.
const SLICE: usize = 256 * 1024;

/// The number of rows, and whether no row is earlier than the allowed
/// lateness behind the latest before it (then no global sort is needed).
fn time_order(files: &[PathBuf], lateness_us: i64) -> Result<(usize, bool)> {
    let bar = Progress::spinner("checking the time order");
    let mut max = i64::MIN;
    let mut ordered = true;
    let mut rows = 0;
    // the time column only, a slice at a time
    for (file, start, n) in slices(files, 4 * SLICE)? {
        rows += n;
        if !ordered {
            continue;
        }
        let df = read_slice(&file, start, n, Some(&["time"]))?;
        for v in df.column("time")?.i64()?.iter() {
            let v = v.unwrap_or(i64::MIN);
            if v < max.saturating_sub(lateness_us) {
                ordered = false;
                break;
            }
            max = max.max(v);
        }
    }
    bar.finish(if ordered { "in time order" } else { "out of order: will sort" });
    Ok((rows, ordered))
}

/// The inputs cut in slices of at most `len` rows: (file, first row, rows).
pub(super) fn slices(files: &[PathBuf], len: usize) -> Result<Vec<(PathBuf, usize, usize)>> {
    let mut out = Vec::new();
    for f in files {
        let file = std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
        let rows = ParquetReader::new(file).num_rows().with_context(|| format!("cannot read {}", f.display()))?;
        out.extend((0..rows).step_by(len.max(1)).map(|s| (f.clone(), s, len.min(rows - s))));
    }
    Ok(out)
}

/// Rows `start..start + len` of one Parquet file (only the row groups they
/// are in are decoded), `columns` of them or all; `time` as epoch µs.
pub(super) fn read_slice(file: &Path, start: usize, len: usize, columns: Option<&[&str]>) -> Result<DataFrame> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut df = ParquetReader::new(f)
        .with_columns(columns.map(|c| c.iter().map(|s| s.to_string()).collect()))
        .with_slice(Some((start, len)))
        .finish()
        .with_context(|| format!("cannot read {}", file.display()))?;
    let time = df.column("time")?.cast(&DataType::Int64)?;
    df.replace("time", time)?;
    Ok(df)
}

/// One lazy frame over the normalized Parquet files; `time` as epoch µs.
pub fn scan(files: &[PathBuf]) -> Result<LazyFrame> {
    let mut frames = Vec::new();
    for f in files {
        let p = f.to_str().with_context(|| format!("{} is not UTF-8", f.display()))?;
        let lf = LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default())
            .with_context(|| format!("cannot scan {}", f.display()))?;
        frames.push(lf.with_column(col("time").cast(DataType::Int64)));
    }
    Ok(concat(frames, UnionArgs::default())?)
}
