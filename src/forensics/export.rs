//! Enriched events to Parquet, in row groups of a bounded size, so memory
//! stays flat whatever the input size. One column per normalized field; no
//! raw token ever (events do not carry one). String columns are appended
//! straight into polars' string view builders (addresses, token ids and
//! source positions formatted into one reused buffer): no `String` a row.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::model::{AccessEvent, Origin};

/// The columns, in order.
pub const EXPORT_COLUMNS: &[&str] = &[
    "time",
    "client_ip",
    "user_agent",
    "method",
    "path",
    "status",
    "request_id",
    "gateway",
    "bytes",
    "token_id",
    "iss",
    "jti",
    "sub",
    "client_id",
    "aud",
    "kid",
    "alg",
    "exp",
    "iat",
    "nbf",
    "verdict",
    "origin",
    "vouched",
    "sha256",
    "lat",
    "lon",
    "radius_km",
    "city",
    "country",
    "asn",
    "as_org",
    "source",
];

const ROW_GROUP: usize = 128 * 1024;

struct Cols {
    time: Vec<i64>,
    strs: Vec<StringChunkedBuilder>,
    vouched: Vec<Option<bool>>,
    status: Vec<u32>,
    bytes: Vec<Option<u64>>,
    dates: [Vec<Option<i64>>; 3],
    floats: [Vec<Option<f64>>; 3],
    asn: Vec<Option<u32>>,
    source: StringChunkedBuilder,
    /// Reused for the values that must be formatted.
    buf: String,
}

/// String columns, by index into `Cols::strs` (the reader of the copy,
/// `events.rs`, indexes the same list).
pub(super) const STR_COLS: [&str; 20] = [
    "client_ip",
    "user_agent",
    "method",
    "path",
    "request_id",
    "gateway",
    "token_id",
    "iss",
    "jti",
    "sub",
    "client_id",
    "aud",
    "kid",
    "alg",
    "verdict",
    "origin",
    "sha256",
    "city",
    "country",
    "as_org",
];

pub struct ParquetExport {
    writer: polars::io::parquet::write::BatchedWriter<File>,
    cols: Cols,
    rows: u64,
}

impl ParquetExport {
    pub fn create(path: &Path) -> PolarsResult<Self> {
        let file =
            File::create(path).map_err(|e| polars_err!(ComputeError: "cannot create {}: {e}", path.display()))?;
        let schema = Cols::new(0).frame()?.schema().as_ref().clone();
        let writer = ParquetWriter::new(file).with_compression(ParquetCompression::Zstd(None)).batched(&schema)?;
        Ok(ParquetExport { writer, cols: Cols::new(ROW_GROUP), rows: 0 })
    }

    pub fn push(&mut self, ev: &AccessEvent) -> PolarsResult<()> {
        self.cols.push(ev);
        self.rows += 1;
        if self.cols.time.len() >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> PolarsResult<()> {
        if self.cols.time.is_empty() {
            return Ok(());
        }
        let df = std::mem::replace(&mut self.cols, Cols::new(ROW_GROUP)).frame()?;
        self.writer.write_batch(&df)
    }

    /// Write the last row group and the footer; returns the rows written.
    pub fn finish(mut self) -> PolarsResult<u64> {
        self.flush()?;
        self.writer.finish()?;
        Ok(self.rows)
    }
}

impl Cols {
    fn new(cap: usize) -> Cols {
        Cols {
            time: Vec::with_capacity(cap),
            strs: STR_COLS.iter().map(|n| StringChunkedBuilder::new((*n).into(), cap)).collect(),
            vouched: Vec::with_capacity(cap),
            status: Vec::with_capacity(cap),
            bytes: Vec::with_capacity(cap),
            dates: std::array::from_fn(|_| Vec::with_capacity(cap)),
            floats: std::array::from_fn(|_| Vec::with_capacity(cap)),
            asn: Vec::with_capacity(cap),
            source: StringChunkedBuilder::new("source".into(), cap),
            buf: String::with_capacity(256),
        }
    }

    fn push(&mut self, ev: &AccessEvent) {
        let t = ev.token.as_deref();
        let g = ev.geo.as_deref();
        let buf = &mut self.buf;
        let mut fmt = |v: Option<&dyn std::fmt::Display>, col: &mut StringChunkedBuilder| match v {
            Some(v) => {
                buf.clear();
                let _ = write!(buf, "{v}");
                col.append_value(buf.as_str());
            }
            None => col.append_null(),
        };
        let [ip, ua, method, path, rid, gw, tid, iss, jti, sub, cid, aud, kid, alg, verdict, origin, sha, city, country, org] =
            &mut self.strs[..]
        else {
            unreachable!("one builder a string column")
        };
        fmt(ev.client_ip.as_ref().map(|i| i as &dyn std::fmt::Display), ip);
        fmt(Some(&ev.source), &mut self.source);
        match t {
            Some(t) => {
                self.buf.clear();
                t.id.write_display_id(&mut self.buf);
                tid.append_value(self.buf.as_str());
            }
            None => tid.append_null(),
        }
        ua.append_option(ev.user_agent.as_deref());
        method.append_value(&*ev.method);
        path.append_value(&*ev.path);
        rid.append_option(ev.request_id.as_deref());
        gw.append_option(ev.gateway.as_deref());
        iss.append_option(t.and_then(|t| t.iss.as_deref()));
        jti.append_option(t.and_then(|t| t.jti.as_deref()));
        sub.append_option(t.and_then(|t| t.sub.as_deref()));
        cid.append_option(t.and_then(|t| t.client_id.as_deref()));
        aud.append_option(t.and_then(|t| t.aud.as_deref()));
        kid.append_option(t.and_then(|t| t.kid.as_deref()));
        alg.append_option(t.and_then(|t| t.alg.as_deref()));
        verdict.append_option(t.map(|t| t.verdict.as_str()));
        origin.append_option(t.map(|t| match t.origin {
            Origin::Raw => "raw",
            Origin::Claims => "claims",
        }));
        sha.append_option(t.and_then(|t| t.sha256.as_deref()));
        city.append_option(g.and_then(|g| g.city.as_deref()));
        country.append_option(g.and_then(|g| g.country.as_deref()));
        org.append_option(g.and_then(|g| g.as_org.as_deref()));
        self.vouched.push(t.map(|t| t.vouched));
        self.time.push(ev.time.0);
        self.status.push(ev.status as u32);
        self.bytes.push(ev.bytes);
        for (col, v) in self.dates.iter_mut().zip([t.and_then(|t| t.exp), t.and_then(|t| t.iat), t.and_then(|t| t.nbf)])
        {
            col.push(v);
        }
        for (col, v) in
            self.floats.iter_mut().zip([g.and_then(|g| g.lat), g.and_then(|g| g.lon), g.map(|g| g.radius_km)])
        {
            col.push(v);
        }
        self.asn.push(g.and_then(|g| g.asn));
    }

    fn frame(self) -> PolarsResult<DataFrame> {
        let n = self.time.len();
        let mut by_name: Vec<(&str, Column)> = Vec::with_capacity(EXPORT_COLUMNS.len());
        let time = Series::new("time".into(), self.time).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        by_name.push(("time", time.into_column()));
        for (name, b) in STR_COLS.iter().zip(self.strs) {
            by_name.push((name, b.finish().into_series().into_column()));
        }
        by_name.push(("vouched", Column::new("vouched".into(), self.vouched)));
        by_name.push(("status", Column::new("status".into(), self.status)));
        by_name.push(("bytes", Column::new("bytes".into(), self.bytes)));
        for (name, v) in ["exp", "iat", "nbf"].iter().zip(self.dates) {
            by_name.push((name, Column::new((*name).into(), v)));
        }
        for (name, v) in ["lat", "lon", "radius_km"].iter().zip(self.floats) {
            by_name.push((name, Column::new((*name).into(), v)));
        }
        by_name.push(("asn", Column::new("asn".into(), self.asn)));
        by_name.push(("source", self.source.finish().into_series().into_column()));
        let mut cols = Vec::with_capacity(EXPORT_COLUMNS.len());
        for name in EXPORT_COLUMNS {
            let i = by_name.iter().position(|(n, _)| n == name).expect("every column is built");
            cols.push(by_name.swap_remove(i).1);
        }
        DataFrame::new(n, cols)
    }
}
