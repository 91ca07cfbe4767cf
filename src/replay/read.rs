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

/// What a reader buffers (each open input holds one): a chunk's reads,
/// larger, bypass it.
const READ_BUFFER: usize = 64 << 10;

/// Open a file, decompressing by extension; `-` is stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, ReadError> {
    let cap = READ_BUFFER;
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
    /// A read error met after some bytes: the whole lines read before it
    /// are chunked first, and it is raised at the line it came in.
    pending: Option<io::Error>,
}

impl LineChunker {
    pub fn new(reader: Box<dyn BufRead + Send>, file: IStr, max_line: usize, chunk_bytes: usize) -> Self {
        LineChunker {
            reader,
            file,
            line: 0,
            max_line,
            chunk_bytes: chunk_bytes.max(1),
            done: false,
            carry: Vec::new(),
            pending: None,
        }
    }

    /// Change the size of the chunks to come.
    pub fn set_chunk_bytes(&mut self, n: usize) {
        self.chunk_bytes = n.max(1);
    }

    fn err(&self, e: io::Error) -> ReadError {
        ReadError::Read { path: self.file.to_string(), line: self.line + 1, source: e }
    }

    /// The read error kept by [`LineChunker::fill`], at the line it came in.
    fn take_pending(&mut self) -> ReadError {
        let e = self.pending.take().unwrap_or_else(|| io::Error::other("no read error kept"));
        self.err(e)
    }

    /// Append up to `want` bytes from the reader. Fewer than `want` is the
    /// end of the input (`done` is set: one end-of-file ends it, as a
    /// Ctrl-D on a terminal), or a read error, kept in `pending` and raised
    /// by [`LineChunker::next_chunk`] once the whole lines before it are
    /// out; no read after it. The bytes go straight into `data`: once a
    /// read is as large as the reader's buffer ([`READ_BUFFER`]; the first
    /// ones of each call are smaller), `BufReader` hands it to the file or
    /// decoder itself, without a copy through its own buffer.
    fn fill(&mut self, data: &mut Vec<u8>, want: usize) -> usize {
        if self.pending.is_some() || self.done {
            return 0;
        }
        let before = data.len();
        match (&mut self.reader).take(want as u64).read_to_end(data) {
            Ok(n) => {
                if n < want {
                    self.done = true;
                }
                n
            }
            Err(e) => {
                self.pending = Some(e);
                data.len() - before
            }
        }
    }

    /// Skip the rest of an oversize line; returns the bytes skipped and
    /// leaves what follows its newline in `data` (all of the input, or all
    /// before a read error, when it has none).
    fn skip_line(&mut self, data: &mut Vec<u8>) -> usize {
        let mut skipped = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', data) {
                data.drain(..=i);
                return skipped + i;
            }
            skipped += data.len();
            data.clear();
            // (0: the end of the input, or a read error)
            if self.fill(data, self.chunk_bytes) == 0 {
                return skipped;
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
            // (a read error met after some bytes: no more reads until the
            // whole lines before it are out)
            while !self.done && self.pending.is_none() && c.data.len() < self.chunk_bytes {
                let want = self.chunk_bytes - c.data.len();
                self.fill(&mut c.data, want);
            }
            // whole lines end at the last newline (or at end of input)
            let cut = match memchr::memrchr(b'\n', &c.data) {
                _ if self.done => c.data.len(),
                Some(i) => i + 1,
                // a read error inside this line: raised once the oversize
                // lines before it are out (the rest waits as carry)
                None if self.pending.is_some() && !c.oversize.is_empty() => 0,
                None if self.pending.is_some() => return Err(self.take_pending()),
                None if c.data.len() > self.max_line => {
                    // one line longer than allowed and no end in sight
                    let seen = c.data.len();
                    c.data.clear();
                    let rest = self.skip_line(&mut c.data);
                    self.line += 1;
                    c.oversize.push((self.line, seen + rest));
                    continue;
                }
                None => {
                    // a long line within the limit: read on
                    self.fill(&mut c.data, self.chunk_bytes);
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

    /// A reader that answers from a script: bytes, an end of file (empty),
    /// or an error (bytes a read has no room for come at the next read);
    /// past the script it panics (a terminal would block).
    struct Script(std::collections::VecDeque<io::Result<Vec<u8>>>);

    impl io::Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front().expect("read past the end of the script") {
                Ok(mut b) => {
                    let n = b.len().min(buf.len());
                    buf[..n].copy_from_slice(&b[..n]);
                    if n < b.len() {
                        self.0.push_front(Ok(b.split_off(n)));
                    }
                    Ok(n)
                }
                Err(e) => Err(e),
            }
        }
    }

    fn chunker(script: Vec<io::Result<Vec<u8>>>, chunk: usize) -> LineChunker {
        let r: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(4, Script(script.into())));
        LineChunker::new(r, "t".into(), 1000, chunk)
    }

    #[test]
    fn one_end_of_file_ends_the_input() {
        // a terminal: two lines, Ctrl-D, then what would be typed after it
        let script = vec![Ok(b"a\n".to_vec()), Ok(b"bb\n".to_vec()), Ok(vec![]), Ok(b"typed later\n".to_vec())];
        let mut ch = chunker(script, 1 << 20);
        let c = ch.next_chunk(0).unwrap().unwrap();
        assert_eq!(c.lines, vec![(0, 1, 1), (2, 4, 2)]);
        assert!(c.last);
        assert!(ch.next_chunk(1).unwrap().is_none());
    }

    #[test]
    fn a_read_error_comes_after_the_lines_before_it() {
        let disk = || Err(io::Error::other("disk"));
        for (script, chunk, want, line) in [
            // the error in the third line, chunks larger than the input
            (vec![Ok(b"one\ntwo\nthr".to_vec()), disk()], 1 << 20, vec!["one", "two"], 3),
            // chunks of 8 bytes: the error after a line that ends a read
            (
                vec![Ok(b"one\ntwo\nthr".to_vec()), Ok(b"ee\nfour\n".to_vec()), disk()],
                8,
                vec!["one", "two", "three", "four"],
                5,
            ),
            // an oversize line first (limit 10), then a line, then the error
            (vec![Ok(b"xxxxxxxxxxxxxxxxxxxx\nok\n".to_vec()), disk()], 8, vec!["ok"], 3),
        ] {
            let r: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(4, Script(script.into())));
            let mut ch = LineChunker::new(r, "t".into(), 10, chunk);
            let mut got = Vec::new();
            let e = loop {
                match ch.next_chunk(0) {
                    Ok(Some(c)) => got.extend(
                        c.lines
                            .iter()
                            .map(|&(a, b, _)| String::from_utf8_lossy(&c.data[a as usize..b as usize]).into_owned()),
                    ),
                    Ok(None) => panic!("the error was lost"),
                    Err(e) => break e,
                }
            };
            assert_eq!(got, want);
            assert_eq!(e.to_string(), format!("cannot read t near line {line}: disk"));
        }
    }
}
