//! Out-of-order Parquet / CSV inputs in time order with bounded memory: an
//! external merge sort. The rows are cut into runs of [`RUN`] rows, each
//! sorted by time in memory and written beside the report; the runs are then
//! merged a few thousand rows of each at a time, as events, into the engine.
//! Memory holds one run while sorting, then [`READ`] events per run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use polars::prelude::{IdxSize, ParquetWriter, SortMultipleOptions};

use super::load::{for_each_event, scan};
use super::progress::Progress;
use crate::model::AccessEvent;
use crate::token::IdentityKeys;

/// Rows sorted in memory at a time.
pub const RUN: usize = 512 * 1024;
/// Rows of each run read at a time while merging (also the runs' row
/// groups: a read decodes one).
const READ: usize = 16 * 1024;

/// The inputs (`rows` rows) as sorted runs of `run` rows in `dir`: (path, rows).
pub fn runs(inputs: &[PathBuf], rows: usize, run: usize, dir: &Path) -> Result<Vec<(PathBuf, usize)>> {
    let bar = Progress::count("sorting (runs)", rows as u64);
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < rows {
        let lf = scan(inputs)?.slice(start as i64, run as IdxSize).sort(["time"], SortMultipleOptions::default());
        let mut df = super::collect(lf).context("cannot sort the Parquet inputs")?;
        let p = dir.join(format!("sort-run-{}.parquet", out.len()));
        let f = std::fs::File::create(&p).with_context(|| format!("cannot create {}", p.display()))?;
        ParquetWriter::new(f)
            .with_row_group_size(Some(READ))
            .finish(&mut df)
            .with_context(|| format!("cannot write {}", p.display()))?;
        out.push((p, df.height()));
        start += run;
        bar.set(start.min(rows) as u64);
    }
    bar.finish(&format!("{} sorted runs", out.len()));
    Ok(out)
}

struct Cursor {
    path: PathBuf,
    rows: usize,
    next: usize,
    buf: VecDeque<AccessEvent>,
}

impl Cursor {
    fn refill(&mut self, ids: &IdentityKeys, bar: &Progress) -> Result<()> {
        if !self.buf.is_empty() || self.next >= self.rows {
            return Ok(());
        }
        let lf = scan(std::slice::from_ref(&self.path))?.slice(self.next as i64, READ as IdxSize);
        let df = super::collect(lf).with_context(|| format!("cannot read {}", self.path.display()))?;
        let buf = &mut self.buf;
        for_each_event(&df, ids, |ev| buf.push_back(ev), bar, self.next as u64)?;
        self.next += READ;
        Ok(())
    }
}

/// Every event of the runs, in time order (ties in run order), to `f`.
pub fn merge(
    runs: &[(PathBuf, usize)],
    ids: &IdentityKeys,
    bar: &Progress,
    mut f: impl FnMut(AccessEvent),
) -> Result<()> {
    let mut cursors: Vec<Cursor> =
        runs.iter().map(|(p, n)| Cursor { path: p.clone(), rows: *n, next: 0, buf: VecDeque::new() }).collect();
    let mut heap = BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        c.refill(ids, bar)?;
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
        c.refill(ids, bar)?;
        if let Some(e) = c.buf.front() {
            heap.push(Reverse((e.time, i)));
        }
    }
    for (p, _) in runs {
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
        assert!(runs.iter().all(|(p, _)| !p.exists()), "runs removed after the merge");
    }
}
