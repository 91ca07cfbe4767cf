//! The Parquet copy of the gateway logs, made on a thread of its own while
//! the load's thread parses and detects: events go over in batches (a
//! bounded channel: memory stays flat), and the copy thread builds the
//! columns, encodes and compresses the row groups, and gathers each token's
//! first use ([`FirstUses`]) on the way.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context as _, Result};

use super::export::ParquetExport;
use super::firstuse::FirstUses;
use crate::model::AccessEvent;

/// Events a batch.
const BATCH: usize = 4096;
/// Batches in flight.
const IN_FLIGHT: usize = 4;

pub struct Copy {
    path: PathBuf,
    tx: Option<SyncSender<Vec<AccessEvent>>>,
    thread: Option<JoinHandle<Result<FirstUses>>>,
    batch: Vec<AccessEvent>,
}

impl Copy {
    pub fn create(path: &Path) -> Result<Copy> {
        let mut w = ParquetExport::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let (tx, rx) = sync_channel::<Vec<AccessEvent>>(IN_FLIGHT);
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("parquet-copy".into())
            .spawn(move || -> Result<FirstUses> {
                let mut firsts = FirstUses::default();
                for batch in rx {
                    for ev in &batch {
                        firsts.observe(ev);
                        w.push(ev).with_context(|| format!("cannot write {shown}"))?;
                    }
                }
                w.finish().with_context(|| format!("cannot write {shown}"))?;
                Ok(firsts)
            })
            .context("cannot start the Parquet copy")?;
        Ok(Copy { path: path.to_path_buf(), tx: Some(tx), thread: Some(thread), batch: Vec::with_capacity(BATCH) })
    }

    /// Take an event; false once the copy has failed ([`Copy::finish`] says why).
    pub fn push(&mut self, ev: &AccessEvent) -> bool {
        self.batch.push(ev.clone());
        if self.batch.len() < BATCH {
            return true;
        }
        self.send()
    }

    fn send(&mut self) -> bool {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok())
    }

    /// The last events, the footer; every token's first use.
    pub fn finish(mut self) -> Result<FirstUses> {
        if !self.batch.is_empty() {
            self.send();
        }
        self.tx = None;
        let t = self.thread.take().ok_or_else(|| anyhow!("the Parquet copy was finished twice"))?;
        t.join().map_err(|_| anyhow!("the Parquet copy of {} panicked", self.path.display()))?
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        // given up on (an error elsewhere): let the thread end
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
