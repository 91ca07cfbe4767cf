//! The builder every command shares: settings (file, environment, flags),
//! rules, GeoIP databases, verification keys, identity keys, and the reader
//! factory that gives each thread its own ingest + enrich step.

use std::sync::Arc;

use anyhow::Result;

use crate::cli::{Common, InputArgs, PipelineArgs};
use crate::engine::{BaselineLimits, EngineConfig, RiskConfig, StateLimits};
use crate::enrich::{GeoDb, GeoLookup, Reader, ReaderFactory};
use crate::ingest::{IngestConfig, Ingestor, Profile};
use crate::replay::{ReplayOptions, Worker};
use crate::rules::{load, RuleSet};
use crate::settings::{load_raw, OneOrMany, PemIn, RawSettings, Settings};
use crate::token::{IdentityKeys, KeyRing, KeySet, ResolverConfig, SharedDecodes, TokenResolver, DEFAULT_IDENTITY_KEY};

/// Settings from file + env, then the CLI flags on top.
pub fn settings(common: &Common, overlay: impl FnOnce(&mut RawSettings)) -> Result<Settings> {
    let mut raw = load_raw(common.config.as_deref(), std::env::vars())?;
    if let Some(r) = &common.rules {
        raw.rules_dir = Some(r.clone());
    }
    raw.extra_rules.extend(common.extra_rules.iter().cloned());
    if !common.geo_city.is_empty() {
        raw.geo.city = OneOrMany::Many(common.geo_city.clone());
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
    let set = load(s.rules_dir.as_deref(), &s.extra_rules)?;
    for r in set.rules.iter().filter(|r| r.replaces.is_some()) {
        // a built-in rule can be tuned away: say so at every start
        tracing::warn!(rule = &*r.id, file = %r.file, replaces = r.replaces.as_deref(), "rule replaces a loaded rule");
    }
    Ok(Arc::new(set))
}

pub fn geo(s: &Settings) -> Result<Option<Arc<GeoDb>>> {
    if s.geo_city.is_empty() && s.geo_asn.is_none() && s.geo_anon.is_empty() {
        return Ok(None);
    }
    let cities: Vec<&std::path::Path> = s.geo_city.iter().map(|p| p.as_path()).collect();
    let lists: Vec<(u8, &std::path::Path)> = s.geo_anon.lists.iter().map(|(k, p)| (*k, p.as_path())).collect();
    let anonymizers = crate::enrich::Anonymizers::open(s.geo_anon.anonymous_ip.as_deref(), &lists)?;
    let db = GeoDb::open_many(&cities, s.geo_asn.as_deref(), s.geo_schema)?.with_anonymizers(anonymizers);
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

/// The identity keys (a warning when the built-in default is in use).
pub fn identity(s: &Settings) -> IdentityKeys {
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
        max_buffered: s.max_buffered,
        baselines: BaselineLimits { max_subjects: s.risk.max_subjects, window_secs: s.risk.baseline_window_secs },
        risk: RiskConfig {
            half_life_secs: s.risk.half_life_secs,
            low: s.risk.low,
            medium: s.risk.medium,
            high: s.risk.high,
        },
    }
}

/// Settings and the reader factory every log-reading command needs.
pub struct Pipeline {
    pub settings: Settings,
    /// A reader per thread, for the configured profile or another.
    pub factory: ReaderFactory,
    /// The verification keys (the stream reloads them).
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub keys: Option<Arc<KeyRing>>,
    pub identity: IdentityKeys,
}

impl Pipeline {
    /// A reader factory for the configured profile (replay's workers).
    pub fn worker(&self) -> Worker {
        let f = self.factory.clone();
        Box::new(move || f(None))
    }
}

/// Settings (with the log-reading flags), keys, GeoIP and the readers.
pub fn pipeline(i: &PipelineArgs, overlay: impl FnOnce(&mut RawSettings)) -> Result<Pipeline> {
    let s = settings(&i.common, |raw| {
        if i.profile.is_some() {
            raw.profile = i.profile;
        }
        if i.jwks.is_some() {
            raw.token.jwks = i.jwks.clone();
        }
        raw.token.pem.extend(i.pem.iter().map(|p| PemIn::from_flag(p)));
        raw.ingest.trusted_proxies.extend(i.trusted_proxies.iter().cloned());
        overlay(raw);
    })?;
    Pipeline::from_settings(s)
}

impl Pipeline {
    /// Keys, GeoIP and the reader factory for validated settings.
    pub fn from_settings(s: Settings) -> Result<Pipeline> {
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
        let (geo_cache, ring, ids2) = (s.geo_cache, keys.clone(), ids.clone());
        // every reader of the process verifies a token once between them
        let shared = SharedDecodes::new(resolver_cfg.cache_capacity * 2, resolver_cfg.cache_bytes * 2);
        let factory: ReaderFactory = Arc::new(move |profile: Option<Profile>| {
            let tokens = match &ring {
                Some(k) => TokenResolver::with_ring(ids2.clone(), k.clone(), resolver_cfg.clone()),
                None => TokenResolver::new(ids2.clone(), None, resolver_cfg.clone()),
            }
            .with_shared(shared.clone());
            let mut cfg = ingest_cfg.clone();
            if let Some(p) = profile {
                cfg.profile = p;
            }
            Reader::new(Ingestor::new(cfg, tokens), geo.clone().map(|g| GeoLookup::new(g, geo_cache)))
        });
        Ok(Pipeline { settings: s, factory, keys, identity: ids })
    }
}

pub fn replay_options(i: &InputArgs, s: &Settings, threads: usize) -> ReplayOptions {
    ReplayOptions {
        inputs: i.inputs.clone(),
        threads,
        skip_errors: i.skip_errors,
        max_line_bytes: s.max_line_bytes,
        chunk_bytes: 1 << 20,
        engine: engine_config(s),
        baselines: Default::default(),
        keep_baselines: false,
    }
}
