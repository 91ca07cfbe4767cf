//! Several inputs read as one, interleaved by event time (see [`Merge`]).

use std::path::PathBuf;

use super::read::{open_input, Chunk, LineChunker, ReadError};

/// Several inputs read as one, interleaved by event time: every input is a
/// source of its own; after a first small chunk of each, the next chunk
/// always comes from the source that is furthest behind (by the newest
/// event time the driver reports for it). Files of gateway nodes covering
/// the same hours are then read side by side, daily files one after the
/// other, and a session's watermark (the minimum over sources) keeps moving
/// with memory bounded by a few chunks per source. Inputs are opened as
/// they start and closed at their end.
pub struct Merge {
    inputs: Vec<Input>,
    max_line: usize,
    chunk_bytes: usize,
    seq: u64,
}

struct Input {
    path: PathBuf,
    chunker: Option<LineChunker>,
    progress: crate::model::EventTime,
    started: bool,
    done: bool,
}

/// The first chunk of each input: small, as every input starts at once.
const FIRST_CHUNK: usize = 64 << 10;

impl Merge {
    pub fn new(files: &[PathBuf], max_line: usize, chunk_bytes: usize) -> Self {
        let inputs = files
            .iter()
            .map(|p| Input {
                path: p.clone(),
                chunker: None,
                progress: crate::model::EventTime::MIN,
                started: false,
                done: false,
            })
            .collect();
        Merge { inputs, max_line, chunk_bytes, seq: 0 }
    }

    /// How many sources (inputs) there are.
    pub fn sources(&self) -> usize {
        self.inputs.len()
    }

    /// The newest event time parsed from `source` (the driver reports it).
    pub fn report(&mut self, source: u32, t: crate::model::EventTime) {
        if let Some(i) = self.inputs.get_mut(source as usize) {
            i.progress = i.progress.max(t);
        }
    }

    /// The next chunk and its source, or `None` when every input is done.
    /// A source's last chunk says so (`last`); an empty input gives one
    /// empty last chunk.
    pub fn next_chunk(&mut self) -> Result<Option<(u32, Chunk)>, ReadError> {
        let pick = match self.inputs.iter().position(|i| !i.started) {
            Some(i) => i,
            None => match self.inputs.iter().enumerate().filter(|(_, i)| !i.done).min_by_key(|(n, i)| (i.progress, *n))
            {
                Some((i, _)) => i,
                None => return Ok(None),
            },
        };
        let (max_line, chunk_bytes) = (self.max_line, self.chunk_bytes);
        let input = &mut self.inputs[pick];
        if !input.started {
            input.started = true;
            let name = super::input_name(&input.path);
            let reader = open_input(&input.path)?;
            input.chunker = Some(LineChunker::new(reader, name, max_line, FIRST_CHUNK.min(chunk_bytes)));
        }
        let ch = input.chunker.as_mut().expect("an open input");
        let seq = self.seq;
        self.seq += 1;
        let c = match ch.next_chunk(seq)? {
            Some(c) => c,
            None => Chunk {
                seq,
                file: super::input_name(&input.path),
                data: Vec::new(),
                lines: Vec::new(),
                oversize: Vec::new(),
                max_line,
                last: true,
            },
        };
        ch.set_chunk_bytes(chunk_bytes);
        if c.last {
            input.done = true;
            input.chunker = None;
        }
        Ok(Some((pick as u32, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_reads_the_source_furthest_behind() {
        use crate::model::EventTime;
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for n in 0..3 {
            let p = dir.path().join(format!("{n}.log"));
            let text: String = (0..20_000).map(|i| format!("{n} {i}\n")).collect();
            std::fs::write(&p, text).unwrap();
            files.push(p);
        }
        let mut m = Merge::new(&files, 1000, 4096);
        let (mut order, mut ends) = (Vec::new(), Vec::new());
        while let Some((src, c)) = m.next_chunk().unwrap() {
            order.push(src);
            // source 0 runs "ahead" in event time: it is read last
            let t = if src == 0 { 1_000_000 } else { c.seq as i64 };
            m.report(src, EventTime::from_secs(t));
            if c.last {
                ends.push(src);
            }
        }
        assert_eq!(&order[..3], &[0, 1, 2], "every input starts");
        let first_late_zero = order.iter().skip(3).position(|&s| s == 0).unwrap() + 3;
        assert!(order[3..first_late_zero].iter().all(|&s| s != 0));
        assert_eq!(ends.len(), 3);
        assert_eq!(*ends.last().unwrap(), 0, "the input ahead ends last");
    }
}
