//! Out-of-order Parquet / CSV inputs in time order with bounded memory: an
//! external merge sort. The rows are cut into runs of [`RUN`] rows, each
//! sorted by time in memory and written beside the report; the runs are then
//! merged a few thousand rows of each at a time, as events, into the engine.
//! Memory holds one run while sorting, then at most [`MERGE_EVENTS`] events
//! over all runs (up to 256 runs).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use polars::prelude::{ParquetWriter, SortMultipleOptions};

use super::events::EventReader;
use super::load::{read_slice, slices};
use super::progress::Progress;
use crate::model::AccessEvent;
use crate::token::IdentityKeys;

/// Rows sorted in memory at a time.
pub const RUN: usize = 256 * 1024;
/// Events held by the merge, over all runs.
const MERGE_EVENTS: usize = 256 * 1024;

/// Rows of each run read at a time while merging, with `runs` runs (also
/// the runs' row groups: a read decodes one): the merge holds at most
/// [`MERGE_EVENTS`] events up to 256 runs (64 M rows), 1024 a run beyond.
fn read_rows(runs: usize) -> usize {
    (MERGE_EVENTS / runs.max(1)).clamp(1024, 16 * 1024)
}

/// The inputs (`rows` rows) as sorted runs of at most `run` rows in `dir`
/// (a run lies within one input): (path, rows, rows a row group).
pub fn runs(inputs: &[PathBuf], rows: usize, run: usize, dir: &Path) -> Result<Vec<(PathBuf, usize, usize)>> {
    let bar = Progress::count("sorting (runs)", rows as u64);
    let slices = slices(inputs, run)?;
    let group = read_rows(slices.len());
    let mut out = Vec::new();
    let mut done = 0;
    for (file, start, n) in slices {
        let mut df = read_slice(&file, start, n, None)?
            .sort(["time"], SortMultipleOptions::default())
            .context("cannot sort the Parquet inputs")?;
        let p = dir.join(format!("sort-run-{}.parquet", out.len()));
        let f = std::fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))?;
        ParquetWriter::new(f)
            .with_row_group_size(Some(group))
            .finish(&mut df)
            .with_context(|| format!("cannot write {}", p.display()))?;
        out.push((p, df.height(), group));
        done += n;
        bar.set(done as u64);
    }
    bar.finish(&format!("{} sorted runs", out.len()));
    Ok(out)
}

struct Cursor {
    path: PathBuf,
    rows: usize,
    next: usize,
    read: usize,
    buf: VecDeque<AccessEvent>,
}

impl Cursor {
    fn refill(&mut self, reader: &mut EventReader<'_>, bar: &Progress) -> Result<()> {
        if !self.buf.is_empty() || self.next >= self.rows {
            return Ok(());
        }
        let df = read_slice(&self.path, self.next, self.read.min(self.rows - self.next), None)?;
        let buf = &mut self.buf;
        reader.each(&df, |ev| buf.push_back(ev), bar, self.next as u64)?;
        self.next += self.read;
        Ok(())
    }
}

/// Every event of the runs, in time order (ties in run order), to `f`.
pub fn merge(
    runs: &[(PathBuf, usize, usize)],
    ids: &IdentityKeys,
    bar: &Progress,
    mut f: impl FnMut(AccessEvent),
) -> Result<()> {
    let mut cursors: Vec<Cursor> = runs
        .iter()
        .map(|(p, n, r)| Cursor { path: p.clone(), rows: *n, next: 0, read: *r, buf: VecDeque::new() })
        .collect();
    let mut heap = BinaryHeap::new();
    let mut reader = EventReader::new(ids);
    for (i, c) in cursors.iter_mut().enumerate() {
        c.refill(&mut reader, bar)?;
        if let Some(e) = c.buf.front() {
            heap.push(Reverse((e.time, i)));
        }
    }
    let mut done = 0u64;
    while let Some(Reverse((_, i))) = heap.pop() {
        let c = &mut cursors[i];
        let ev = c.buf.pop_front().expect("a cursor in the heap holds an event");
        f(ev);
        done += 1;
        if done.is_multiple_of(65_536) {
            bar.set(done);
        }
        c.refill(&mut reader, bar)?;
        if let Some(e) = c.buf.front() {
            heap.push(Reverse((e.time, i)));
        }
    }
    for (p, _, _) in runs {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forensics::ParquetExport;
    use crate::model::{EventTime, SourcePos};

    #[test]
    fn runs_merge_into_one_time_order_with_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("shuffled.parquet");
        let mut w = ParquetExport::create(&input).unwrap();
        // 1000 events in a scrambled order (7 is prime to 1000), two per time
        let times: Vec<i64> = (0..1000i64).map(|i| (i * 7 % 1000) / 2).collect();
        for (i, t) in times.iter().enumerate() {
            w.push(&AccessEvent {
                time: EventTime(*t * 1_000_000),
                client_ip: None,
                user_agent: None,
                method: "GET".into(),
                path: format!("/{i}").as_str().into(),
                status: 200,
                request_id: None,
                gateway: None,
                bytes: None,
                token: None,
                geo: None,
                source: SourcePos::Test { name: "t".into(), index: i as u64 },
            })
            .unwrap();
        }
        w.finish().unwrap();
        let runs = runs(std::slice::from_ref(&input), 1000, 128, dir.path()).unwrap();
        assert_eq!(runs.len(), 8);
        let mut got = Vec::new();
        let ids = IdentityKeys::new(b"sort-test-identity-key-0123456789");
        merge(&runs, &ids, &Progress::spinner("t"), |ev| got.push((ev.time.0, ev.path.to_string()))).unwrap();
        assert_eq!(got.len(), 1000);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
        let mut paths: Vec<String> = got.into_iter().map(|(_, p)| p).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 1000, "every event once");
        assert!(runs.iter().all(|(p, _, _)| !p.exists()), "runs removed after the merge");
    }
}
