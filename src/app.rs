//! Wiring: CLI + settings -> rules, keys, GeoIP, engine config, driver; and
//! the per-command entry points main.rs calls.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::cli::{Common, GenArgs, InputArgs, PipelineArgs, ReplayArgs};
use crate::engine::{EngineConfig, RevocationView, StateLimits};
use crate::enrich::{load_revocations, GeoDb, GeoLookup};
use crate::ingest::{IngestConfig, Ingestor};
use crate::output::{ocsf_json, revocation_request, table_header, table_row, Format};
use crate::replay::{self, ReplayOptions};
use crate::rules::{load_dir, selftest, RuleSet};
use crate::settings::{load_raw, RawSettings, Settings};
use crate::token::{IdentityKeys, KeyRing, KeySet, ResolverConfig, TokenResolver, DEFAULT_IDENTITY_KEY};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exit codes: 0 success, 1 rule tests failed, 2 error.
pub enum Outcome {
    Ok,
    TestsFailed,
}

/// Settings from file + env, then the CLI flags on top.
pub fn settings(common: &Common, overlay: impl FnOnce(&mut RawSettings)) -> Result<Settings> {
    let mut raw = load_raw(common.config.as_deref(), std::env::vars())?;
    if let Some(r) = &common.rules {
        raw.rules_dir = Some(r.clone());
    }
    if !common.geo_city.is_empty() {
        raw.geo.city = crate::settings::OneOrMany::Many(common.geo_city.clone());
    }
    if common.geo_asn.is_some() {
        raw.geo.asn = common.geo_asn.clone();
    }
    if common.geo_schema.is_some() {
        raw.geo.schema = common.geo_schema;
    }
    overlay(&mut raw);
    Ok(raw.validate()?)
}

pub fn rules(s: &Settings) -> Result<Arc<RuleSet>> {
    Ok(Arc::new(load_dir(&s.rules_dir)?))
}

pub fn geo(s: &Settings) -> Result<Option<Arc<GeoDb>>> {
    if s.geo_city.is_empty() && s.geo_asn.is_none() {
        return Ok(None);
    }
    let cities: Vec<&std::path::Path> = s.geo_city.iter().map(|p| p.as_path()).collect();
    let db = GeoDb::open_many(&cities, s.geo_asn.as_deref(), s.geo_schema)?;
    for a in &db.attribution {
        tracing::info!("{a}");
    }
    Ok(Some(Arc::new(db)))
}

/// The verification keys, as a ring the stream can reload (JWKS rotation).
fn keys(s: &Settings) -> Result<Option<Arc<KeyRing>>> {
    if s.jwks.is_none() && s.pem.is_empty() {
        return Ok(None);
    }
    let (algs, leeway, jwks, pem) = (s.algorithms.clone(), s.leeway_secs, s.jwks.clone(), s.pem.clone());
    let ring = KeyRing::new(Box::new(move || {
        let mut k = KeySet::new(&algs, leeway)?;
        if let Some(j) = &jwks {
            k.add_jwks(&j.to_string_lossy())?;
        }
        for p in &pem {
            k.add_pem_file(&p.path, p.kid.as_deref())?;
        }
        Ok(k)
    }))?;
    tracing::info!(keys = ring.current().0.len(), "verification keys loaded");
    Ok(Some(Arc::new(ring)))
}

fn identity(s: &Settings) -> IdentityKeys {
    let ids = IdentityKeys::new(s.identity_key.as_ref().map_or(DEFAULT_IDENTITY_KEY, |k| k.expose()).as_bytes());
    if ids.is_default {
        tracing::warn!("token.identity_key is not set: using the built-in default key; set TOKENHOUND_TOKEN__IDENTITY_KEY in production so fingerprints and state keys cannot be predicted");
    }
    ids
}

pub fn engine_config(s: &Settings) -> EngineConfig {
    EngineConfig {
        allowed_lateness_secs: s.allowed_lateness_secs,
        limits: StateLimits {
            max_tokens: s.max_tokens,
            max_untrusted_tokens: s.max_untrusted_tokens,
            idle_ttl_secs: s.idle_ttl_secs,
            exp_margin_secs: s.exp_margin_secs,
        },
    }
}

/// Settings, rules and the worker factory every log-reading command needs.
pub(crate) struct Pipeline {
    pub settings: Settings,
    pub worker: replay::Worker,
    /// A parser (for a profile other than the default one) and a GeoIP cache, per thread.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub factory: Factory,
    /// The verification keys (the stream reloads them).
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub keys: Option<Arc<KeyRing>>,
}

/// Builds a per-thread ingestor for a profile (`None`: the configured one).
pub type Factory = Arc<dyn Fn(Option<crate::ingest::Profile>) -> (Ingestor, Option<GeoLookup>) + Send + Sync>;

pub(crate) fn pipeline(i: &PipelineArgs, overlay: impl FnOnce(&mut RawSettings)) -> Result<Pipeline> {
    let s = settings(&i.common, |raw| {
        if i.profile.is_some() {
            raw.profile = i.profile;
        }
        if i.jwks.is_some() {
            raw.token.jwks = i.jwks.clone();
        }
        raw.token.pem.extend(i.pem.iter().map(|p| crate::settings::PemIn::from_flag(p)));
        raw.ingest.trusted_proxies.extend(i.trusted_proxies.iter().cloned());
        overlay(raw);
    })?;
    let geo = geo(&s)?;
    let keys = keys(&s)?;
    let ids = identity(&s);
    let ingest_cfg = IngestConfig {
        profile: s.profile,
        trusted_proxies: s.trusted_proxies.clone(),
        max_line_bytes: s.max_line_bytes,
        ..Default::default()
    };
    let resolver_cfg = ResolverConfig {
        max_token_bytes: s.max_token_bytes,
        claims_vouched: s.trust_gateway_claims,
        ..Default::default()
    };
    let geo_cache = s.geo_cache;
    let ring = keys.clone();
    let factory: Factory = Arc::new(move |profile: Option<crate::ingest::Profile>| {
        let tokens = match &keys {
            Some(k) => TokenResolver::with_ring(ids.clone(), k.clone(), resolver_cfg.clone()),
            None => TokenResolver::new(ids.clone(), None, resolver_cfg.clone()),
        };
        let mut cfg = ingest_cfg.clone();
        if let Some(p) = profile {
            cfg.profile = p;
        }
        (Ingestor::new(cfg, tokens), geo.clone().map(|g| GeoLookup::new(g, geo_cache)))
    });
    let f = factory.clone();
    let worker: replay::Worker = Box::new(move || f(None));
    Ok(Pipeline { settings: s, worker, factory, keys: ring })
}

fn replay_options(i: &InputArgs, s: &Settings, threads: usize) -> ReplayOptions {
    ReplayOptions {
        inputs: i.inputs.clone(),
        threads,
        skip_errors: i.skip_errors,
        max_line_bytes: s.max_line_bytes,
        chunk_bytes: 1 << 20,
        engine: engine_config(s),
    }
}

#[allow(clippy::disallowed_methods)] // the driver times itself for the summary
pub fn run_replay(a: ReplayArgs) -> Result<Outcome> {
    let started = Instant::now();
    let p = pipeline(&a.input.pipeline, |raw| {
        if a.format.is_some() {
            raw.output.format = a.format;
        }
        if a.respond_mode.is_some() {
            raw.respond.mode = a.respond_mode;
        }
    })?;
    let s = &p.settings;
    let rules = rules(s)?;
    let revs = match &a.revocations {
        Some(p) => load_revocations(p)?,
        None => RevocationView::default(),
    };
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let report = replay::run(replay_options(&a.input, s, threads), rules, Arc::new(revs), p.worker)?;
    write_alerts(&report.findings, s.format, a.output.as_ref())?;
    if let Some(p) = &a.revocation_requests {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        );
        for f in &report.findings {
            if let Some(r) = revocation_request(f) {
                writeln!(w, "{r}")?;
            }
        }
        w.flush()?;
    }
    eprintln!("{}", summary(&report, started.elapsed().as_secs_f64()));
    if a.respond {
        respond_replay(&s.respond, &report.findings, a.respond_audit.as_ref())?;
    }
    Ok(Outcome::Ok)
}

/// `replay --respond`: the replay's alerts and revocation requests through
/// the responder (same guard rails and hooks as the service).
fn respond_replay(
    r: &crate::settings::RespondSettings,
    findings: &[crate::model::Finding],
    audit: Option<&PathBuf>,
) -> Result<()> {
    use crate::respond::{wall_ms, Emit, Request, Responder};
    let (hooks, _) = Responder::hooks_from(r, crate::respond::wall_secs).map_err(|e| anyhow::anyhow!(e))?;
    let mut responder = Responder::new(r, hooks);
    let mut w: Option<Box<dyn Write>> = match audit {
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
        None => None,
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for f in findings {
        let mut emits = responder.alert(&ocsf_json(f, VERSION), wall_ms());
        if let Some(req) = revocation_request(f) {
            let req = Request::parse(req.to_string().as_bytes()).map_err(|e| anyhow::anyhow!(e))?;
            emits.extend(responder.handle(&req, wall_ms()));
        }
        for e in emits {
            let (kind, v) = match e {
                Emit::Audit(v) => {
                    *counts.entry(v["outcome"].as_str().unwrap_or("").to_string()).or_default() += 1;
                    ("audit", v)
                }
                Emit::DeadLetter { hook, reason, request } => {
                    ("dead_letter", serde_json::json!({"hook": hook, "reason": reason, "request": request}))
                }
                Emit::Parked(v) => ("parked", v),
                Emit::Alert(v) => {
                    let msg = v["message"].as_str().unwrap_or("");
                    eprintln!("tokenhound respond: alert: {}", crate::output::escape_controls(msg));
                    ("alert", v)
                }
            };
            if let Some(w) = w.as_mut() {
                writeln!(w, "{}", serde_json::json!({"record": kind, "value": v}))?;
            }
        }
    }
    if let Some(w) = w.as_mut() {
        w.flush()?;
    }
    let c: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "tokenhound respond ({:?}): {}",
        responder.mode(),
        if c.is_empty() { "nothing to do".into() } else { c.join(", ") }
    );
    Ok(())
}

/// `tokenhound export --parquet OUT [--csv OUT] INPUT...`: one thread, in input order.
#[cfg(feature = "batch")]
pub fn run_export(a: crate::cli::ExportArgs) -> Result<Outcome> {
    let p = pipeline(&a.input.pipeline, |_| {})?;
    let target = match (&a.parquet, &a.csv) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c.with_extension("parquet.tmp"),
        (None, None) => anyhow::bail!("--parquet or --csv is required"),
    };
    let mut out = crate::forensics::ParquetExport::create(&target)?;
    let mut failed = None;
    let opts = replay_options(&a.input, &p.settings, 1);
    let files = replay::expand_inputs(&opts.inputs)?;
    let report = replay::scan(&files, &opts, p.worker, |ev| {
        if failed.is_none() {
            failed = out.push(&ev).err();
        }
    })?;
    if let Some(e) = failed {
        return Err(e).with_context(|| format!("cannot write {}", target.display()));
    }
    let rows = out.finish().with_context(|| format!("cannot write {}", target.display()))?;
    if let Some(c) = &a.csv {
        crate::forensics::csv::from_parquet(&target, c)?;
        if a.parquet.is_none() {
            let _ = std::fs::remove_file(&target);
        }
    }
    let written: Vec<String> = a.parquet.iter().chain(a.csv.iter()).map(|p| p.display().to_string()).collect();
    eprintln!(
        "tokenhound export: {} lines, {rows} events written to {}, {} bad lines skipped",
        report.lines,
        written.join(" and "),
        report.errors.total()
    );
    Ok(Outcome::Ok)
}

/// `tokenhound investigate`: load (and detect), then the forensic report.
#[cfg(feature = "batch")]
pub fn run_investigate(a: crate::cli::InvestigateArgs) -> Result<Outcome> {
    use crate::forensics::incident::Lead;
    let p = pipeline(&a.input.pipeline, |_| {})?;
    let s = &p.settings;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let revs = Arc::new(match &a.revocations {
        Some(p) => load_revocations(p)?,
        None => RevocationView::default(),
    });
    let margin = crate::rules::parse_duration(&a.pivot_window).map_err(|e| anyhow::anyhow!("--pivot-window: {e}"))?;
    let opts = replay_options(&a.input, s, 1);
    let ids = identity(s);
    let loaded = crate::forensics::load::load(
        &a.input.inputs,
        &opts,
        p.worker,
        rules(s)?,
        revs.clone(),
        &ids,
        &a.out,
        a.alerts.is_none(),
    )?;
    let leads: Vec<Lead> = match &a.alerts {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read {}", f.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .ok()
                    .and_then(|v| Lead::from_alert(&v))
                    .with_context(|| format!("{}:{}: not an OCSF alert of tokenhound", f.display(), i + 1))
            })
            .collect::<Result<_>>()?,
        None => loaded.findings.iter().map(|f| Lead::from_finding(f, &revs)).collect(),
    };
    let attribution = geo(s)?.map(|g| g.attribution.clone()).unwrap_or_default();
    let r = crate::forensics::analyse(&loaded.parquet, &leads, loaded.events, attribution, margin, &a.out)?;
    eprintln!(
        "tokenhound investigate: {} events ({} bad lines skipped), {} incidents, {} other tokens likely compromised; report in {}",
        loaded.events,
        loaded.bad_lines,
        r.incidents.len(),
        r.likely_also_compromised.len(),
        a.out.display()
    );
    if let Some(h) = r.root_causes.first() {
        eprintln!("top root-cause hypothesis: {}", crate::output::escape_controls(&h.statement));
    }
    Ok(Outcome::Ok)
}

fn write_alerts(findings: &[crate::model::Finding], format: Format, path: Option<&PathBuf>) -> Result<()> {
    let sink: Box<dyn Write> = match path {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = std::io::BufWriter::new(sink);
    if format == Format::Table {
        writeln!(w, "{}", table_header())?;
    }
    for f in findings {
        match format {
            Format::Ocsf => writeln!(w, "{}", ocsf_json(f, VERSION))?,
            Format::Ecs => writeln!(w, "{}", crate::output::ecs_json(f, VERSION))?,
            Format::Table => writeln!(w, "{}", table_row(f))?,
        }
    }
    w.flush()?;
    Ok(())
}

fn summary(r: &replay::ReplayReport, secs: f64) -> String {
    let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &r.findings {
        *by_rule.entry(&f.rule_id).or_default() += 1;
    }
    let rules: Vec<String> = by_rule.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let mut s = format!(
        "tokenhound replay: {} lines, {} events ({} without a token), {} bad lines skipped\n\
         findings: {} ({})\n\
         tokens tracked: {}, distinct raw tokens decoded: {}, evicted: {} by ttl, {} by cap, late events: {}\n\
         {:.2}s, {:.0} events/s",
        r.lines,
        r.events,
        r.engine.without_token,
        r.errors.total(),
        r.findings.len(),
        if rules.is_empty() { "none".to_string() } else { rules.join(", ") },
        r.engine.tracked_tokens,
        r.tokens_decoded,
        r.engine.evictions.ttl,
        r.engine.evictions.cap,
        r.engine.late,
        secs,
        r.events as f64 / secs.max(1e-9)
    );
    if r.errors.total() > 0 {
        let kinds: Vec<String> = r.errors.by_kind.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!("\nskipped by kind: {}", kinds.join(", ")));
        for e in &r.errors.examples {
            s.push_str(&format!("\n  e.g. {}", crate::output::escape_controls(e)));
        }
    }
    s
}

pub fn run_rules_check(c: &Common) -> Result<Outcome> {
    let s = settings(c, |_| {})?;
    let set = rules(&s)?;
    println!("{} rule(s) OK in {}", set.rules.len(), s.rules_dir.display());
    Ok(Outcome::Ok)
}

pub fn run_rules_test(c: &Common) -> Result<Outcome> {
    let s = settings(c, |_| {})?;
    let set = rules(&s)?;
    let geo = geo(&s)?;
    let results = selftest::run_all(&set, geo.as_ref());
    let failed: Vec<_> = results.iter().filter(|o| !o.passed).collect();
    for o in &results {
        let mark = if o.passed { "ok  " } else { "FAIL" };
        println!("{mark} {} / {}", o.rule_id, o.test);
        if !o.passed {
            println!("     {}: {}", o.file, o.detail);
        }
    }
    println!("{} passed, {} failed", results.len() - failed.len(), failed.len());
    Ok(if failed.is_empty() { Outcome::Ok } else { Outcome::TestsFailed })
}

pub fn run_gen(a: GenArgs) -> Result<Outcome> {
    crate::gen::run(&a)?;
    Ok(Outcome::Ok)
}

/// `tokenhound stream`: settings (file, env, flags) into a plan for the Kafka driver.
#[cfg(feature = "kafka")]
pub fn run_stream(a: crate::cli::StreamArgs) -> Result<Outcome> {
    let p = pipeline(&a.pipeline, |raw| {
        kafka_flags(raw, &a.brokers, &a.group);
        if a.listen.is_some() {
            raw.stream.listen = a.listen.clone();
        }
        if !a.inputs.is_empty() {
            raw.stream.inputs = a
                .inputs
                .iter()
                .map(|i| crate::settings::RawInput { topic: i.topic.clone(), profile: i.profile })
                .collect();
        }
    })?;
    let s = &p.settings;
    let plan = crate::stream::StreamPlan {
        settings: s.stream.clone(),
        stage: a.stage,
        input_keyed: a.input_keyed,
        factory: p.factory.clone(),
        rules: rules(s)?,
        engine: engine_config(s),
        exp_margin_secs: s.exp_margin_secs,
        keys: p.keys.clone(),
        jwks_refresh_secs: s.jwks_refresh_secs,
    };
    crate::stream::run(plan)?;
    Ok(Outcome::Ok)
}

/// `--brokers` and `--group` over the `[stream]` settings.
#[cfg(feature = "kafka")]
fn kafka_flags(raw: &mut RawSettings, brokers: &Option<String>, group: &Option<String>) {
    if brokers.is_some() {
        raw.stream.brokers = brokers.clone();
    }
    if group.is_some() {
        raw.stream.group = group.clone();
    }
}

/// `tokenhound respond`: the responder as a Kafka service.
#[cfg(feature = "kafka")]
pub fn run_respond(a: crate::cli::RespondArgs) -> Result<Outcome> {
    let s = settings(&a.common, |raw| {
        kafka_flags(raw, &a.brokers, &a.group);
        if a.listen.is_some() {
            raw.respond.listen = a.listen.clone();
        }
        if a.mode.is_some() {
            raw.respond.mode = a.mode;
        }
    })?;
    crate::stream::respond::run(crate::stream::respond::RespondPlan { stream: s.stream, respond: s.respond })?;
    Ok(Outcome::Ok)
}
