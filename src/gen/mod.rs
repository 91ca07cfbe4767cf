//! `tokenhound gen`: a seeded generator of realistic synthetic gateway logs in
//! any profile, with planted thefts of every rule kind, a ground-truth file,
//! and benign behaviour that must not alert (wifi <-> cellular in a city,
//! carrier IP churn, IPv4/IPv6 flips, browser auto-updates, VPN toggles in a
//! country, 4xx/5xx noise, unauthenticated health checks). The planted root
//! cause: stolen tokens mostly belong to one app version and are replayed from
//! one hosting provider (BulletHost, AS64900).

mod clients;
mod rng;
mod session;
mod subjects;
mod world;
mod write;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result};

use std::path::PathBuf;

use crate::ingest::Profile;
use crate::model::EventTime;
use clap::Args;
pub use rng::Rng;
pub use session::{Generator, Theft};
pub use world::World;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenMode {
    /// Gateway-logged claims (Kong jwt object, Envoy jwt_authn metadata...).
    Claims,
    /// Real RS256-signed JWTs in the Authorization header.
    Raw,
    /// Half the tokens raw, half as logged claims (forgeries raw).
    Mixed,
}

/// How much of the gateway's log object a line carries.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Shape {
    /// The fields tokenhound reads (~300 bytes a Kong line).
    #[default]
    Lean,
    /// Kong's whole log object (~1 KB: request and response headers,
    /// latencies, tries, route, service), and kafka-log batches (a JSON
    /// array of records a line) among the single records.
    Full,
}

pub const ISSUER: &str = "https://idp.acme.example";
pub const KID: &str = "idp-2026-11";

/// A token as the generator hands it out.
pub struct GenToken {
    pub jti: String,
    pub sub: String,
    pub client_id: &'static str,
    pub iat: i64,
    pub exp: i64,
    /// The signed JWT (raw mode).
    pub raw: Option<String>,
}

/// One request to write.
pub struct GenEvent {
    pub t: i64,
    pub seq: u64,
    pub ip: IpAddr,
    pub ua: Rc<str>,
    pub method: &'static str,
    pub path: String,
    pub route: &'static str,
    pub status: u16,
    pub bytes: u32,
    pub token: Option<Rc<GenToken>>,
}

impl PartialEq for GenEvent {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for GenEvent {}
impl PartialOrd for GenEvent {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for GenEvent {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.t, self.seq).cmp(&(o.t, o.seq))
    }
}

pub struct GenConfig {
    pub profile: Profile,
    pub lines: u64,
    pub users: u64,
    pub seed: u64,
    pub mode: TokenMode,
    pub start: EventTime,
    pub shape: Shape,
}

/// Outputs of a run (the log itself is streamed to the writer).
pub struct GenReport {
    pub lines: u64,
    pub thefts: Vec<Theft>,
    pub revocations: Vec<String>,
}

/// Generate `cfg.lines` lines into `out`, in time order.
pub fn generate(cfg: &GenConfig, out: &mut dyn Write) -> Result<GenReport> {
    let mode = if cfg.profile == Profile::Traefik { TokenMode::Raw } else { cfg.mode };
    let mut g = Generator::new(cfg.seed, cfg.users.max(10), mode);
    // ~20 requests a session: space session starts evenly over 24h, jittered.
    let sessions = (cfg.lines / 20).max(20);
    let step = (86_400_000_000 / sessions as i64).max(1);
    let mut heap: BinaryHeap<Reverse<GenEvent>> = BinaryHeap::new();
    let mut written = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut k = 0u64;
    let full = cfg.shape == Shape::Full && cfg.profile == Profile::Kong;
    let mut batch_left = 0u32;
    while written < cfg.lines {
        let start = cfg.start.0 + k as i64 * step + g.rng.range(0, step);
        for ev in g.session(k, sessions, start) {
            heap.push(Reverse(ev));
        }
        k += 1;
        while heap.peek().is_some_and(|Reverse(e)| e.t < start) && written < cfg.lines {
            let Reverse(e) = heap.pop().expect("peeked");
            if full {
                // one line in 8 is a kafka-log batch of 2..=5 records
                if batch_left == 0 && e.seq % 8 == 3 {
                    batch_left = 2 + (e.seq / 8 % 4) as u32;
                    buf.push(b'[');
                } else if batch_left > 0 {
                    buf.push(b',');
                }
                write::kong_full(&e, &mut buf);
                if batch_left > 0 {
                    batch_left -= 1;
                    if batch_left == 0 || written + 1 == cfg.lines {
                        batch_left = 0;
                        buf.push(b']');
                    }
                }
                if batch_left == 0 {
                    buf.push(b'\n');
                }
            } else {
                write::line(cfg.profile, &e, &mut buf);
            }
            written += 1;
            if buf.len() > 60_000 && batch_left == 0 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    // Keep only the thefts whose attack made it into the written lines, and
    // only the attack requests that did.
    let cut = heap.peek().map_or(i64::MAX, |Reverse(e)| e.t);
    let thefts = g
        .thefts
        .into_iter()
        .filter(|t| t.first_attack_us < cut)
        .map(|mut t| {
            let n = t.attack_times_us.iter().filter(|&&at| at < cut).count();
            t.attack_requests = n;
            t.attack_paths.truncate(n);
            t
        })
        .collect();
    Ok(GenReport { lines: written, thefts, revocations: g.revocations })
}

/// Open an output file, compressing by extension.
pub fn create(path: &Path) -> Result<Box<dyn Write>> {
    let f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".gz") {
        Box::new(std::io::BufWriter::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast())))
    } else if name.ends_with(".zst") {
        Box::new(std::io::BufWriter::new(zstd::stream::write::Encoder::new(f, 3)?.auto_finish()))
    } else {
        Box::new(std::io::BufWriter::with_capacity(1 << 20, f))
    })
}

/// `--story subjects`: weeks of per-subject history with silent thefts.
fn run_story(a: &GenArgs, start: EventTime) -> Result<()> {
    let profile = if a.profile == Profile::Auto { Profile::Kong } else { a.profile };
    let mode = if profile == Profile::Traefik { TokenMode::Raw } else { a.mode };
    let (events, truth) = subjects::story(a.seed, a.users.unwrap_or(200), a.days, mode, start.0);
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => create(p)?,
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut buf = Vec::with_capacity(1 << 16);
    for e in &events {
        write::line(profile, e, &mut buf);
        if buf.len() > 60_000 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    if let Some(p) = &a.truth {
        let mut w = create(p)?;
        for t in &truth {
            writeln!(w, "{t}")?;
        }
    }
    let thefts = truth.iter().filter(|t| t["kind"] == "issuance-theft").count();
    eprintln!("tokenhound gen: {} lines over {} days, {thefts} tokens stolen at issuance", events.len(), a.days);
    Ok(())
}

pub fn run(a: &GenArgs) -> Result<()> {
    let start = EventTime::parse(&a.start).map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    if a.story == Story::Subjects {
        return run_story(a, start);
    }
    let cfg = GenConfig {
        profile: if a.profile == Profile::Auto { Profile::Kong } else { a.profile },
        lines: a.lines,
        users: a.users.unwrap_or((a.lines / 100).max(50)),
        seed: a.seed,
        mode: a.mode,
        start,
        shape: a.shape,
    };
    if a.shape == Shape::Full && cfg.profile != Profile::Kong {
        anyhow::bail!("--shape full: only the kong profile has a full shape");
    }
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => create(p)?,
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let report = generate(&cfg, &mut out)?;
    drop(out);
    if let Some(p) = &a.truth {
        let mut w = create(p)?;
        for t in &report.thefts {
            writeln!(w, "{}", serde_json::to_string(t)?)?;
        }
    }
    if let Some(p) = &a.revocations {
        let mut w = create(p)?;
        for r in &report.revocations {
            writeln!(w, "{r}")?;
        }
    }
    if let Some(p) = &a.jwks {
        std::fs::write(p, include_str!("../../sample-logs/keys/idp-jwks.json"))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    eprintln!("tokenhound gen: {} lines, {} planted thefts", report.lines, report.thefts.len());
    Ok(())
}

/// What the generated log tells.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Story {
    /// One day of sessions with a planted theft of every rule kind.
    #[default]
    Thefts,
    /// `--days` of per-subject history (every session a new token), then
    /// tokens stolen at issuance and used only abroad, benign trips abroad,
    /// commuters and new phones (`--lines` is ignored).
    Subjects,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// What the log tells.
    #[arg(long, value_enum, default_value = "thefts")]
    pub story: Story,
    /// Days of history (`--story subjects`).
    #[arg(long, default_value_t = 14)]
    pub days: u64,
    /// Output profile.
    #[arg(long, value_enum, default_value = "kong")]
    pub profile: Profile,
    /// Number of records (log lines; with `--shape full` a kafka-log batch line holds several).
    #[arg(long, default_value_t = 10_000)]
    pub lines: u64,
    /// Number of distinct users.
    #[arg(long)]
    pub users: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Log real signed JWTs (raw) or gateway-logged claims.
    #[arg(long, value_enum, default_value = "claims")]
    pub mode: TokenMode,
    /// Start time (RFC 3339).
    #[arg(long, default_value = "2026-11-02T08:00:00Z")]
    pub start: String,
    /// Write the log here (default stdout; .gz / .zst compress).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Write the ground truth (planted thefts, JSON lines) here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Write revocations of the planted revoked-use stories here.
    #[arg(long)]
    pub revocations: Option<PathBuf>,
    /// Lean lines, or the gateway's full log object (Kong only).
    #[arg(long, value_enum, default_value = "lean")]
    pub shape: Shape,
    /// Write the JWKS that verifies the generated tokens here (raw mode).
    #[arg(long)]
    pub jwks: Option<PathBuf>,
}
