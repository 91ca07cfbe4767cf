//! Inputs for replay: files, directories (recursive, sorted), `.gz`, `.zst`,
//! or `-` for stdin, cut into chunks of whole lines. Line length is bounded
//! while reading: an oversize line is skipped to its end and reported, never
//! held in memory.

use crate::model::IStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("cannot read {path} near line {line}: {source}")]
    Read { path: String, line: u64, source: io::Error },
}

/// Extensions of log files picked up when a directory is given.
const LOG_EXTENSIONS: &[&str] = &["ndjson", "jsonl", "json", "log", "txt", "gz", "zst", "zstd"];

/// Expand directories into their log files (recursive, sorted; hidden files
/// and other extensions skipped). Files named explicitly are always read.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.as_os_str() == "-" || !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut stack = vec![p.clone()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            let rd = std::fs::read_dir(&d).map_err(|e| ReadError::Open { path: d.display().to_string(), source: e })?;
            for e in rd.flatten() {
                let path = e.path();
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| LOG_EXTENSIONS.contains(&e)) {
                    files.push(path);
                }
            }
        }
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

/// The most a reader buffers: larger reads (a chunk's) bypass it.
const READ_BUFFER: usize = 64 << 10;

/// Open a file, decompressing by extension; `-` is stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, ReadError> {
    open_input_with(path, 1 << 20)
}

/// [`open_input`] with a read buffer of `cap` bytes (smaller when many
/// inputs are open at once).
pub fn open_input_with(path: &Path, cap: usize) -> Result<Box<dyn BufRead + Send>, ReadError> {
    // chunks are read past this buffer, straight from the input or decoder
    let cap = cap.min(READ_BUFFER);
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(cap, io::stdin())));
    }
    let err = |e| ReadError::Open { path: path.display().to_string(), source: e };
    let f = File::open(path).map_err(err)?;
    let name = path.to_string_lossy();
    let r: Box<dyn BufRead + Send> = if name.ends_with(".gz") {
        Box::new(BufReader::with_capacity(cap, flate2::read::MultiGzDecoder::new(BufReader::new(f))))
    } else if name.ends_with(".zst") || name.ends_with(".zstd") {
        Box::new(BufReader::with_capacity(cap, zstd::stream::read::Decoder::new(f).map_err(err)?))
    } else {
        Box::new(BufReader::with_capacity(cap, f))
    };
    Ok(r)
}

/// Whole lines of one input, with their line numbers.
pub struct Chunk {
    pub seq: u64,
    pub file: IStr,
    pub data: Vec<u8>,
    /// (start, end, line number) of each line in `data`, newline excluded.
    pub lines: Vec<(u32, u32, u64)>,
    /// Lines that were too long: (line number, length seen).
    pub oversize: Vec<(u64, usize)>,
    /// The line length limit the reader applied.
    pub max_line: usize,
    /// The input has no more lines after this chunk.
    pub last: bool,
}

/// Reads one input into chunks of about `chunk_bytes`, a block at a time:
/// lines are found with memchr in the block (no copy per line); the partial
/// last line is carried to the next chunk. A line longer than `max_line` is
/// skipped to its end as it streams by, never held whole.
pub struct LineChunker {
    reader: Box<dyn BufRead + Send>,
    file: IStr,
    line: u64,
    max_line: usize,
    chunk_bytes: usize,
    done: bool,
    carry: Vec<u8>,
}

impl LineChunker {
    pub fn new(reader: Box<dyn BufRead + Send>, file: IStr, max_line: usize, chunk_bytes: usize) -> Self {
        LineChunker { reader, file, line: 0, max_line, chunk_bytes: chunk_bytes.max(1), done: false, carry: Vec::new() }
    }

    /// Change the size of the chunks to come.
    pub fn set_chunk_bytes(&mut self, n: usize) {
        self.chunk_bytes = n.max(1);
    }

    fn err(&self, e: io::Error) -> ReadError {
        ReadError::Read { path: self.file.to_string(), line: self.line + 1, source: e }
    }

    /// Append up to `want` bytes from the reader; 0 at end of input. The
    /// bytes go straight into `data`: a read at least as large as the
    /// reader's buffer ([`READ_BUFFER`]) is handed by `BufReader` to the
    /// file (or decoder) itself, without a copy through its own buffer.
    fn fill(&mut self, data: &mut Vec<u8>, want: usize) -> Result<usize, ReadError> {
        match (&mut self.reader).take(want as u64).read_to_end(data) {
            Ok(n) => Ok(n),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Skip the rest of an oversize line; returns the bytes skipped and
    /// leaves what follows its newline in `data`.
    fn skip_line(&mut self, data: &mut Vec<u8>) -> Result<usize, ReadError> {
        let mut skipped = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', data) {
                data.drain(..=i);
                return Ok(skipped + i);
            }
            skipped += data.len();
            data.clear();
            if self.fill(data, self.chunk_bytes)? == 0 {
                self.done = true;
                return Ok(skipped);
            }
        }
    }

    /// The next chunk, or `None` at end of input.
    pub fn next_chunk(&mut self, seq: u64) -> Result<Option<Chunk>, ReadError> {
        let mut c = Chunk {
            seq,
            file: self.file.clone(),
            data: std::mem::take(&mut self.carry),
            lines: Vec::new(),
            oversize: Vec::new(),
            max_line: self.max_line,
            last: false,
        };
        // the whole chunk at once: growing the buffer would copy it again
        c.data.reserve(self.chunk_bytes.saturating_sub(c.data.len()));
        loop {
            while !self.done && c.data.len() < self.chunk_bytes {
                let want = self.chunk_bytes - c.data.len();
                if self.fill(&mut c.data, want)? == 0 {
                    self.done = true;
                }
            }
            // whole lines end at the last newline (or at end of input)
            let cut = match memchr::memrchr(b'\n', &c.data) {
                _ if self.done => c.data.len(),
                Some(i) => i + 1,
                None if c.data.len() > self.max_line => {
                    // one line longer than allowed and no end in sight
                    let seen = c.data.len();
                    c.data.clear();
                    let rest = self.skip_line(&mut c.data)?;
                    self.line += 1;
                    c.oversize.push((self.line, seen + rest));
                    continue;
                }
                None => {
                    // a long line within the limit: read on
                    let n = self.fill(&mut c.data, self.chunk_bytes)?;
                    if n == 0 {
                        self.done = true;
                    }
                    continue;
                }
            };
            self.carry = c.data.split_off(cut);
            break;
        }
        let mut start = 0;
        while start < c.data.len() {
            let end = memchr::memchr(b'\n', &c.data[start..]).map_or(c.data.len(), |i| start + i);
            self.line += 1;
            let mut e = end;
            if e > start && c.data[e - 1] == b'\r' {
                e -= 1;
            }
            if end - start > self.max_line {
                c.oversize.push((self.line, end - start));
            } else if !c.data[start..e].iter().all(u8::is_ascii_whitespace) {
                c.lines.push((start as u32, e as u32, self.line));
            }
            start = end + 1;
        }
        if c.lines.is_empty() && c.oversize.is_empty() && self.done && self.carry.is_empty() {
            return Ok(None);
        }
        c.last = self.finished();
        Ok(Some(c))
    }

    /// Nothing is left to read.
    pub fn finished(&self) -> bool {
        self.done && self.carry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_lines_and_bounds_length() {
        let text = format!("a\r\n\nbb\n{}\ncc", "x".repeat(50));
        let r: Box<dyn BufRead + Send> = Box::new(io::Cursor::new(text.into_bytes()));
        let mut ch = LineChunker::new(r, "t".into(), 10, 1 << 20);
        let c = ch.next_chunk(0).unwrap().unwrap();
        let lines: Vec<(&[u8], u64)> = c.lines.iter().map(|&(s, e, n)| (&c.data[s as usize..e as usize], n)).collect();
        assert_eq!(lines, vec![(&b"a"[..], 1), (&b"bb"[..], 3), (&b"cc"[..], 5)]);
        assert_eq!(c.oversize, vec![(4, 50)]);
        assert!(ch.next_chunk(1).unwrap().is_none());
    }

    /// Every split of an input into chunks gives the same lines, numbers and
    /// oversize reports, whatever the chunk size.
    #[test]
    fn chunk_size_does_not_change_lines() {
        let mut text = Vec::new();
        for i in 0..200 {
            let len = (i * 37) % 90;
            text.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            text.extend_from_slice(if i % 7 == 0 { b"\r\n" } else { b"\n" });
        }
        text.extend_from_slice(b"last-without-newline");
        let all = |chunk: usize| {
            let r: Box<dyn BufRead + Send> = Box::new(io::BufReader::with_capacity(13, io::Cursor::new(text.clone())));
            let mut ch = LineChunker::new(r, "t".into(), 60, chunk);
            let (mut lines, mut over) = (Vec::new(), Vec::new());
            let mut seq = 0;
            while let Some(c) = ch.next_chunk(seq).unwrap() {
                seq += 1;
                for &(s, e, n) in &c.lines {
                    lines.push((c.data[s as usize..e as usize].to_vec(), n));
                }
                over.extend(c.oversize);
            }
            (lines, over)
        };
        let reference = all(1 << 20);
        assert!(reference.0.len() > 100 && !reference.1.is_empty());
        assert_eq!(reference.0.last().unwrap().0, b"last-without-newline".to_vec());
        for chunk in [1, 7, 61, 100, 4096] {
            assert_eq!(all(chunk), reference, "chunk size {chunk}");
        }
    }
}
