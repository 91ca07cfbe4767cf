//! Loading for `investigate`: gateway logs of any profile (NDJSON, `.gz`,
//! `.zst`, directories) go through the ingest pipeline once, into a Parquet
//! file of normalized events in the output directory, while the shared engine
//! detects on the same pass (the copy is written on a thread of its own); Parquet files written by `tokenhound export`
//! are scanned as they are, in time order (streamed in slices when they are
//! in order within the allowed lateness, through an external merge sort
//! when not) and fed to the engine.
//! Everything then is one polars `LazyFrame` over Parquet.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use polars::prelude::{
    col, concat, DataFrame, DataType, IdxSize, LazyFrame, PlRefPath, ScanArgsParquet, StringChunked, UnionArgs,
};

use super::firstuse::FirstUses;
use super::progress::Progress;
use crate::engine::{RevocationView, Session};
use crate::model::{
    AccessEvent, EventTime, Finding, Geo, IStr, Origin, SourcePos, TokenId, TokenInfo, TokenKey, Verdict,
};
use crate::replay::{self, ReplayOptions, Worker};
use crate::rules::RuleSet;
use crate::token::IdentityKeys;

/// The normalized events (Parquet files) and what the engine found in them.
pub struct Loaded {
    pub parquet: Vec<PathBuf>,
    pub findings: Vec<Finding>,
    /// Every token's first use (for the root cause).
    pub first_uses: FirstUses,
    pub events: u64,
    pub bad_lines: u64,
}

fn is_parquet(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn is_csv(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Load every input; detect unless `detect` is false (alerts come from a file).
#[allow(clippy::too_many_arguments)]
pub fn load(
    inputs: &[PathBuf],
    opts: &ReplayOptions,
    worker: Worker,
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    ids: &IdentityKeys,
    out_dir: &Path,
    detect: bool,
) -> Result<Loaded> {
    super::progress::phase_end("start");
    let (tables, logs): (Vec<PathBuf>, Vec<PathBuf>) = inputs.iter().cloned().partition(|p| is_parquet(p) || is_csv(p));
    let mut parquet_in = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        if is_csv(&t) {
            let p = out_dir.join(format!("csv-{i}.parquet"));
            super::csv::to_parquet(&t, &p)?;
            parquet_in.push(p);
        } else {
            parquet_in.push(t);
        }
    }
    let mut loaded = Loaded {
        parquet: parquet_in.clone(),
        findings: Vec::new(),
        first_uses: FirstUses::default(),
        events: 0,
        bad_lines: 0,
    };
    if !logs.is_empty() {
        let files = replay::expand_inputs(&logs)?;
        let out = out_dir.join("events.parquet");
        let mut copy = super::copy::Copy::create(&out)?;
        let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        let bar = Progress::bytes("reading gateway logs", bytes);
        let mut copying = true;
        let mut n = 0u64;
        let mut each = |ev: &AccessEvent| {
            n += 1;
            if n.is_multiple_of(65_536) {
                bar.set(n);
            }
            if copying {
                copying = copy.push(ev);
            }
        };
        // the replay driver itself: the same sources, watermark and session
        let report = if detect {
            let (rules, revs) = (rules.clone(), revocations.clone());
            replay::run_inline(&files, opts, rules, revs, worker, Some(&mut each), &mut |f| loaded.findings.push(f))?
        } else {
            replay::scan(&files, opts, worker, |ev| each(&ev))?
        };
        loaded.first_uses = copy.finish()?;
        bar.finish(&format!("{n} events from {} lines", report.lines));
        loaded.events += n;
        loaded.bad_lines += report.errors.total();
        loaded.parquet.push(out);
    }
    if !parquet_in.is_empty() {
        let lateness_us = opts.engine.allowed_lateness_secs * 1_000_000;
        let (rows, in_order) = time_order(&parquet_in, lateness_us)?;
        loaded.events += rows as u64;
        if detect {
            let bar = Progress::count("detecting", rows as u64);
            // one source, in time order within the lateness (or sorted)
            let mut session = Session::new(rules, revocations, opts.engine);
            let found = &mut loaded.findings;
            let firsts = &mut loaded.first_uses;
            let mut feed = |df: &DataFrame, done: u64| {
                let r = for_each_event(
                    df,
                    ids,
                    |ev| {
                        firsts.observe(&ev);
                        session.push(0, ev, found)
                    },
                    &bar,
                    done,
                );
                session.advance(found);
                r
            };
            if in_order {
                // already in time order within the allowed lateness (an export is):
                // stream it a slice at a time; the engine's reorder buffer does the rest
                let mut start = 0usize;
                while start < rows {
                    let df = super::collect(scan(&parquet_in)?.slice(start as i64, SLICE as IdxSize))
                        .context("cannot read the Parquet inputs")?;
                    feed(&df, start as u64)?;
                    start += SLICE;
                }
            } else {
                // out of order: an external merge sort, bounded memory
                let runs = super::sort::runs(&parquet_in, rows, super::sort::RUN, out_dir)?;
                let found = &mut loaded.findings;
                let firsts = &mut loaded.first_uses;
                let mut n = 0u64;
                super::sort::merge(&runs, ids, &bar, |ev| {
                    firsts.observe(&ev);
                    session.push(0, ev, found);
                    n += 1;
                    if n.is_multiple_of(4096) {
                        session.advance(found);
                    }
                })?;
            }
            session.finish(&mut loaded.findings);
            bar.finish(if in_order { "done (in time order: streamed)" } else { "done (sorted: external merge)" });
        }
    }
    if detect {
        loaded.findings.sort_by(|a, b| (a.time, &a.uid).cmp(&(b.time, &b.uid)));
    }
    Ok(loaded)
}

/// Rows handed to the engine at a time when the input is in time order.
const SLICE: usize = 256 * 1024;

/// The number of rows, and whether no row is earlier than the allowed
/// lateness behind the latest before it (then no global sort is needed).
fn time_order(files: &[PathBuf], lateness_us: i64) -> Result<(usize, bool)> {
    let bar = Progress::spinner("checking the time order");
    let df = super::collect(scan(files)?.select([col("time")])).context("cannot read the Parquet inputs")?;
    let t = df.column("time")?.i64()?;
    let mut max = i64::MIN;
    let mut ordered = true;
    for i in 0..t.len() {
        let v = t.get(i).unwrap_or(i64::MIN);
        if v < max.saturating_sub(lateness_us) {
            ordered = false;
            break;
        }
        max = max.max(v);
    }
    bar.finish(if ordered { "in time order" } else { "out of order: will sort" });
    Ok((df.height(), ordered))
}

/// One lazy frame over the normalized Parquet files; `time` as epoch µs.
pub fn scan(files: &[PathBuf]) -> Result<LazyFrame> {
    let mut frames = Vec::new();
    for f in files {
        let p = f.to_str().with_context(|| format!("{} is not UTF-8", f.display()))?;
        let lf = LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default())
            .with_context(|| format!("cannot scan {}", f.display()))?;
        frames.push(lf.with_column(col("time").cast(DataType::Int64)));
    }
    Ok(concat(frames, UnionArgs::default())?)
}

/// Rows of a normalized frame (sorted by time) as events for the engine.
pub(super) fn for_each_event(
    df: &DataFrame,
    ids: &IdentityKeys,
    mut f: impl FnMut(AccessEvent),
    bar: &Progress,
    done: u64,
) -> Result<()> {
    let s = |n: &str| -> Result<&StringChunked> { Ok(df.column(n)?.str()?) };
    let (ip, ua, method, path, rid, gw) =
        (s("client_ip")?, s("user_agent")?, s("method")?, s("path")?, s("request_id")?, s("gateway")?);
    let (tid, iss, jti, sub, cid, aud) = (s("token_id")?, s("iss")?, s("jti")?, s("sub")?, s("client_id")?, s("aud")?);
    let (kid, alg, verdict, city, country, org) =
        (s("kid")?, s("alg")?, s("verdict")?, s("city")?, s("country")?, s("as_org")?);
    let (source, origin, sha) = (s("source")?, s("origin")?, s("sha256")?);
    let vouched = df.column("vouched")?.bool()?;
    let time = df.column("time")?.i64()?;
    let status = df.column("status")?.u32()?;
    let bytes = df.column("bytes")?.u64()?;
    let (exp, iat, nbf) = (df.column("exp")?.i64()?, df.column("iat")?.i64()?, df.column("nbf")?.i64()?);
    let (lat, lon, rad) = (df.column("lat")?.f64()?, df.column("lon")?.f64()?, df.column("radius_km")?.f64()?);
    let asn = df.column("asn")?.u32()?;
    let mut strings = crate::ingest::Interner::new(65_536);
    let arc = |v: Option<&str>| v.map(Arc::<str>::from);
    for i in 0..df.height() {
        if i.is_multiple_of(65_536) {
            bar.set(done + i as u64);
        }
        let token = tid.get(i).map(|id| {
            let (key, id) = match (id.strip_prefix("fp:"), jti.get(i)) {
                (Some(fp), _) => (ids.jti_key("\0fingerprint", fp), TokenId::Fingerprint(fp.into())),
                (None, Some(j)) => (
                    ids.jti_key(iss.get(i).unwrap_or(""), j),
                    TokenId::Jti { iss: iss.get(i).unwrap_or("").into(), jti: j.into() },
                ),
                (None, None) => (ids.jti_key("\0id", id), TokenId::Fingerprint(id.into())),
            };
            let verdict = verdict.get(i).and_then(Verdict::parse).unwrap_or(Verdict::NotChecked);
            let origin = if origin.get(i) == Some("raw") { Origin::Raw } else { Origin::Claims };
            let mut t = TokenInfo::bare(TokenKey(key.0), id, verdict, origin);
            t.jti = arc(jti.get(i));
            t.iss = arc(iss.get(i));
            t.sub = arc(sub.get(i));
            t.client_id = arc(cid.get(i));
            t.aud = arc(aud.get(i));
            t.kid = arc(kid.get(i));
            t.alg = arc(alg.get(i));
            t.exp = exp.get(i);
            t.iat = iat.get(i);
            t.nbf = nbf.get(i);
            t.vouched = vouched.get(i).unwrap_or(false) && !verdict.is_forged();
            t.sha256 = arc(sha.get(i));
            Arc::new(t)
        });
        let geo = (lat.get(i).is_some() || asn.get(i).is_some() || country.get(i).is_some()).then(|| {
            Arc::new(Geo {
                lat: lat.get(i),
                lon: lon.get(i),
                radius_km: rad.get(i).unwrap_or(0.0),
                city: arc(city.get(i)),
                country: arc(country.get(i)),
                asn: asn.get(i),
                anonymizer: 0,
                as_org: arc(org.get(i)),
            })
        });
        f(AccessEvent {
            time: EventTime(time.get(i).unwrap_or(0)),
            client_ip: ip.get(i).and_then(|v| v.parse().ok()),
            user_agent: ua.get(i).map(|v| strings.get(v, 4096)),
            method: strings.get(method.get(i).unwrap_or(""), 64),
            path: strings.get(path.get(i).unwrap_or(""), 4096),
            status: status.get(i).unwrap_or(0) as u16,
            request_id: arc(rid.get(i)),
            gateway: gw.get(i).map(|v| strings.get(v, 256)),
            bytes: bytes.get(i),
            token,
            geo,
            source: SourcePos::File { path: IStr::from(source.get(i).unwrap_or("parquet")), line: done + i as u64 + 1 },
        });
    }
    Ok(())
}
