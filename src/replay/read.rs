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

/// Open a file, decompressing by extension; `-` is stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, ReadError> {
    const CAP: usize = 1 << 20;
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(CAP, io::stdin())));
    }
    let err = |e| ReadError::Open { path: path.display().to_string(), source: e };
    let f = File::open(path).map_err(err)?;
    let name = path.to_string_lossy();
    let r: Box<dyn BufRead + Send> = if name.ends_with(".gz") {
        Box::new(BufReader::with_capacity(CAP, flate2::read::MultiGzDecoder::new(BufReader::new(f))))
    } else if name.ends_with(".zst") || name.ends_with(".zstd") {
        Box::new(BufReader::with_capacity(CAP, zstd::stream::read::Decoder::new(f).map_err(err)?))
    } else {
        Box::new(BufReader::with_capacity(CAP, f))
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
}

/// Reads one input into chunks of about `chunk_bytes`.
pub struct LineChunker {
    reader: Box<dyn BufRead + Send>,
    file: IStr,
    line: u64,
    max_line: usize,
    chunk_bytes: usize,
    done: bool,
}

impl LineChunker {
    pub fn new(reader: Box<dyn BufRead + Send>, file: IStr, max_line: usize, chunk_bytes: usize) -> Self {
        LineChunker { reader, file, line: 0, max_line, chunk_bytes, done: false }
    }

    /// The next chunk, or `None` at end of input.
    pub fn next_chunk(&mut self, seq: u64) -> Result<Option<Chunk>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let mut c = Chunk {
            seq,
            file: self.file.clone(),
            data: Vec::with_capacity(self.chunk_bytes + 4096),
            lines: Vec::new(),
            oversize: Vec::new(),
            max_line: self.max_line,
        };
        while c.data.len() < self.chunk_bytes {
            let start = c.data.len();
            let n = (&mut self.reader)
                .take(self.max_line as u64 + 1)
                .read_until(b'\n', &mut c.data)
                .map_err(|e| ReadError::Read { path: self.file.to_string(), line: self.line + 1, source: e })?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            let has_nl = c.data.last() == Some(&b'\n');
            if !has_nl && n > self.max_line {
                let skipped = self.skip_rest()?;
                c.data.truncate(start);
                c.oversize.push((self.line, n + skipped));
                continue;
            }
            let mut end = c.data.len() - usize::from(has_nl);
            if end > start && c.data[end - 1] == b'\r' {
                end -= 1;
            }
            if c.data[start..end].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            c.lines.push((start as u32, end as u32, self.line));
        }
        if c.lines.is_empty() && c.oversize.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(c))
    }

    fn skip_rest(&mut self) -> Result<usize, ReadError> {
        let mut skipped = 0;
        loop {
            let buf = self.reader.fill_buf().map_err(|e| ReadError::Read {
                path: self.file.to_string(),
                line: self.line,
                source: e,
            })?;
            if buf.is_empty() {
                return Ok(skipped);
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.reader.consume(i + 1);
                    return Ok(skipped + i);
                }
                None => {
                    let n = buf.len();
                    self.reader.consume(n);
                    skipped += n;
                }
            }
        }
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
}
