//! `tokenhound stream` (feature `kafka`): the same engine, driven from Kafka.
//! The only place rdkafka appears.
//!
//! ```text
//! input topics ─► ingest stage ─► events topic (keyed by token, ─► detect stage ─► alerts topic
//!  (profile per    parse, identify,  + watermark records of every     one session per  revocation-requests (compacted)
//!   topic)         enrich; bad ─►     gateway partition ~10/s)        partition        dead-letter
//!                  dead-letter
//! revocations + revocation-requests ─► feed ─► revocation view of every engine
//! ```
//!
//! Each stage is a thread with a `BaseConsumer` poll loop (the engine is
//! synchronous and CPU-bound, so it runs beside the poll, not on an async
//! executor); tokio serves `/metrics`, `/livez`, `/readyz` and waits for
//! SIGTERM/SIGINT. At-least-once: an input offset is stored only when the
//! engine released its record and every output it caused has a successful
//! delivery report (see `offsets`).

pub mod baselines;
pub mod clock;
mod decode;
pub mod detect;
pub mod dump;
pub mod feed;
pub mod ingest;
pub mod kafka;
pub mod kstats;
pub mod metrics;
pub mod offsets;
pub mod out;
pub mod parked;
pub mod partition;
mod rebuild;
pub mod respond;
pub mod stage;
mod window;
pub mod wire;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::producer::ThreadedProducer;

use crate::engine::EngineConfig;
use crate::enrich::ReaderFactory;
use crate::ingest::Interner;
use crate::rules::RuleSet;
use crate::settings::{Stage, StreamSettings};
use detect::{Decoder, DetectDeps};
use feed::Feed;
use metrics::Shared;
use out::Outputs;

/// Everything the stages need, built by `app` from the settings.
pub struct StreamPlan {
    pub settings: StreamSettings,
    pub stage: Stage,
    pub input_keyed: bool,
    pub factory: ReaderFactory,
    pub rules: Arc<RuleSet>,
    pub engine: EngineConfig,
    pub exp_margin_secs: i64,
    /// Verification keys to reload every `jwks_refresh_secs` (0: never).
    pub keys: Option<Arc<crate::token::KeyRing>>,
    pub jwks_refresh_secs: i64,
}

/// Run until SIGTERM/SIGINT or a fatal error.
pub fn run(plan: StreamPlan) -> Result<()> {
    let s = plan.settings.clone();
    if s.inputs.is_empty() && (plan.stage != Stage::Detect || plan.input_keyed) {
        bail!("no input topic: set [stream] inputs or pass --input TOPIC[:PROFILE]");
    }
    let (shared, out) = clients(&s)?;
    tracing::info!(listen = %s.listen, stage = ?plan.stage, "tokenhound stream starting");
    let listen = s.listen.clone();
    supervise(&s, &shared, &out, &listen, Vec::new(), |sh, o| spawn_stages(plan, sh, o))
}

/// The shared state and the producer every Kafka command starts with.
pub fn clients(s: &StreamSettings) -> Result<(Arc<Shared>, Arc<Outputs>)> {
    let shared = Shared::new();
    let producer: ThreadedProducer<kafka::ProducerCtx> = kafka::producer_config(s)
        .create_with_context(kafka::ProducerCtx { shared: shared.clone() })
        .context("cannot create the Kafka producer")?;
    let out = Arc::new(Outputs::new(s, producer, shared.clone()));
    Ok((shared, out))
}

/// Serve HTTP (metrics, health, `documents`), start the stage threads, wait
/// for SIGTERM/SIGINT, a fatal error or a stage ending; then stop cleanly.
pub fn supervise(
    s: &StreamSettings,
    shared: &Arc<Shared>,
    out: &Arc<Outputs>,
    listen: &str,
    documents: Vec<(&'static str, serde_json::Value)>,
    start: impl FnOnce(&Arc<Shared>, &Arc<Outputs>) -> Result<Stages>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let listener =
        rt.block_on(tokio::net::TcpListener::bind(listen)).with_context(|| format!("cannot listen on {listen}"))?;
    let threads = start(shared, out)?;
    let sh = shared.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let server = rt.spawn(metrics::serve(shared.clone(), listener, stop, documents));
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = tick.tick() => {
                    if sh.stopping() || threads.iter().any(|t| t.1.is_finished()) {
                        break;
                    }
                }
            }
        }
        tracing::info!("stopping: finishing in-flight work");
        std::io::Result::Ok(())
    })?;
    shared.shutdown.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for (name, t) in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("{name}: {e:#}")),
            Err(_) => errors.push(format!("{name}: panicked")),
        }
    }
    let _ = out.flush(Duration::from_millis(s.shutdown_timeout_ms));
    let _ = stop_tx.send(());
    let _ = rt.block_on(server);
    if let Some(f) = shared.fatal.lock().expect("not poisoned").clone() {
        errors.push(f);
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

pub type Stages = Vec<(&'static str, JoinHandle<Result<()>>)>;

/// Re-read the verification keys every `every` until shutdown; a failed
/// reload keeps the old keys (logged and counted).
#[allow(clippy::disallowed_methods)] // the driver's timer
fn reload_keys(ring: &crate::token::KeyRing, every: Duration, shared: &Shared) -> Result<()> {
    let mut last = std::time::Instant::now();
    while !shared.stopping() {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < every {
            continue;
        }
        last = std::time::Instant::now();
        let outcome = match ring.reload() {
            Ok(n) => {
                tracing::info!(keys = n, "verification keys reloaded");
                "ok"
            }
            Err(e) => {
                tracing::warn!("cannot reload the verification keys (the old ones stay in use): {e}");
                "error"
            }
        };
        shared.metrics.key_reloads.get_or_create(&metrics::OutcomeOnly { outcome: outcome.into() }).inc();
    }
    Ok(())
}

fn spawn_stages(plan: StreamPlan, shared: &Arc<Shared>, out: &Arc<Outputs>) -> Result<Stages> {
    let s = &plan.settings;
    let mut threads: Stages = Vec::new();
    let spawn = |name: &'static str, f: Box<dyn FnOnce() -> Result<()> + Send>| {
        std::thread::Builder::new()
            .name(format!("tokenhound-{name}"))
            .stack_size(crate::ingest::scan::PARSE_STACK_BYTES)
            .spawn(f)
            .map(|h| (name, h))
    };
    if let (Some(ring), true) = (plan.keys.clone(), plan.jwks_refresh_secs > 0) {
        let (sh, every) = (shared.clone(), Duration::from_secs(plan.jwks_refresh_secs as u64));
        threads.push(spawn("jwks", Box::new(move || reload_keys(&ring, every, &sh)))?);
    }
    if matches!(plan.stage, Stage::All | Stage::Ingest) && !plan.input_keyed {
        let (s, f, sh, o) = (s.clone(), plan.factory.clone(), shared.clone(), out.clone());
        let lateness = plan.engine.allowed_lateness_secs;
        threads.push(spawn("ingest", Box::new(move || ingest::run(s, f, lateness, sh, o)))?);
    }
    if matches!(plan.stage, Stage::All | Stage::Detect) {
        let feed = Arc::new(Feed::default());
        let (fs, ff, fsh) = (s.clone(), feed.clone(), shared.clone());
        threads.push(spawn("feed", Box::new(move || feed::run(fs, ff, fsh)))?);
        let (decoder, topics) = if plan.input_keyed {
            let parsers = ingest::Parsers::new(s, &plan.factory);
            (Decoder::Raw(parsers), s.inputs.iter().map(|i| i.topic.clone()).collect())
        } else {
            (Decoder::Wire(Interner::new(65_536)), vec![s.events_topic.clone()])
        };
        let deps = DetectDeps {
            rules: plan.rules.clone(),
            engine: plan.engine,
            exp_margin_secs: plan.exp_margin_secs,
            decoder,
            topics,
            feed,
        };
        let (ds, dsh, o) = (s.clone(), shared.clone(), out.clone());
        threads.push(spawn("detect", Box::new(move || detect::run(ds, deps, dsh, o)))?);
    }
    Ok(threads)
}
