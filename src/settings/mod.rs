//! Settings: defaults < TOML file < `TOKENHOUND_*` environment < CLI flags,
//! then validated into typed [`Settings`], reporting every error at once.
//!
//! Environment variables name a key by its path: `TOKENHOUND_ENGINE__MAX_TOKENS`
//! sets `[engine] max_tokens`; top-level keys need no section
//! (`TOKENHOUND_RULES_DIR`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::enrich::GeoSchema;
use crate::ingest::Profile;
use crate::model::Secret;
use crate::output::Format;
use crate::rules::parse_duration;

mod geo;
mod investigate;
mod quiet;
use quiet::without_values;
mod respond;
mod risk;
mod stream;
pub use geo::{GeoAnon, OneOrMany, RawAnonList, RawGeo};
pub use investigate::{Expect, InvestigateSettings, RawInvestigate, RawPivotTest, RawWeights, Weights};
pub use respond::{Mode, RawRespond, RawSsf, RawWebhook, Redis, RespondSettings};
pub use risk::{RawRisk, RiskSettings};
pub use stream::{parse_input, InputTopic, OffsetReset, RawInput, RawStream, Stage, StreamSettings};

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Rule files that replace the built-in rules.
    pub rules_dir: Option<PathBuf>,
    /// Rule directories added to the rules in force (a rule whose id is
    /// loaded already replaces it).
    #[serde(default)]
    pub extra_rules: Vec<PathBuf>,
    pub profile: Option<Profile>,
    #[serde(default)]
    pub geo: RawGeo,
    #[serde(default)]
    pub token: RawToken,
    #[serde(default)]
    pub ingest: RawIngest,
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub output: RawOutput,
    #[serde(default)]
    pub stream: RawStream,
    #[serde(default)]
    pub respond: RawRespond,
    #[serde(default)]
    pub investigate: RawInvestigate,
    #[serde(default)]
    pub risk: RawRisk,
}

/// A PEM key in the settings: a path (a key for tokens of any kid), or a
/// path with the `kid` it is published under.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum PemIn {
    Path(PathBuf),
    Named { path: PathBuf, kid: String },
}

/// A PEM public key, named by its `kid` or not.
#[derive(Debug, Clone, PartialEq)]
pub struct PemKey {
    pub path: PathBuf,
    pub kid: Option<String>,
}

impl PemIn {
    pub fn key(&self) -> PemKey {
        match self {
            PemIn::Path(p) => PemKey { path: p.clone(), kid: None },
            PemIn::Named { path, kid } => PemKey { path: path.clone(), kid: Some(kid.clone()) },
        }
    }

    /// The `--pem [KID=]PATH` flag: a kid before `=` unless the whole
    /// argument is an existing file.
    pub fn from_flag(arg: &str) -> PemIn {
        match arg.split_once('=') {
            Some((kid, path)) if !kid.is_empty() && !Path::new(arg).exists() => {
                PemIn::Named { path: path.into(), kid: kid.into() }
            }
            _ => PemIn::Path(arg.into()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub identity_key: Option<Secret>,
    pub jwks: Option<PathBuf>,
    /// PEM public keys: a path, or `{ path = "...", kid = "..." }`.
    #[serde(default)]
    pub pem: Vec<PemIn>,
    pub algorithms: Option<Vec<String>>,
    pub leeway_secs: Option<u64>,
    pub max_token_bytes: Option<usize>,
    /// How often the long-lived `stream` re-reads the JWKS ("0s": never).
    pub jwks_refresh: Option<String>,
    /// The gateways verify the tokens whose claims they log (Kong's jwt
    /// plugin, Envoy's jwt_authn): their claims may widen a response to the
    /// subject. Off by default: a claim tokenhound did not verify names only
    /// its own token.
    pub trust_gateway_claims: Option<bool>,
}

impl std::fmt::Debug for RawToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawToken")
            .field("identity_key", &self.identity_key.as_ref().map(|_| "<secret>"))
            .field("jwks", &self.jwks)
            .finish()
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub max_line_bytes: Option<usize>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    pub allowed_lateness: Option<String>,
    pub max_tokens: Option<usize>,
    /// Cap of the state of tokens anyone can mint (unverified, forged).
    pub max_untrusted_tokens: Option<usize>,
    /// Events a session may hold waiting for the watermark (beyond, the
    /// oldest are judged anyway).
    pub max_buffered: Option<usize>,
    pub idle_ttl: Option<String>,
    pub exp_margin: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    pub format: Option<Format>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: the built-in rules.
    pub rules_dir: Option<PathBuf>,
    pub extra_rules: Vec<PathBuf>,
    pub profile: Profile,
    pub geo_city: Vec<PathBuf>,
    pub geo_asn: Option<PathBuf>,
    pub geo_schema: GeoSchema,
    pub geo_cache: usize,
    pub geo_anon: GeoAnon,
    pub identity_key: Option<Secret>,
    pub jwks: Option<PathBuf>,
    pub pem: Vec<PemKey>,
    pub algorithms: Vec<String>,
    pub leeway_secs: u64,
    pub max_token_bytes: usize,
    pub jwks_refresh_secs: i64,
    pub trust_gateway_claims: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_line_bytes: usize,
    pub allowed_lateness_secs: i64,
    pub max_tokens: usize,
    pub max_untrusted_tokens: usize,
    pub max_buffered: usize,
    pub idle_ttl_secs: i64,
    pub exp_margin_secs: i64,
    pub format: Format,
    pub stream: StreamSettings,
    pub respond: RespondSettings,
    pub risk: RiskSettings,
    pub investigate: InvestigateSettings,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid settings:\n  {}", .0.join("\n  "))]
pub struct SettingsError(pub Vec<String>);

/// Read the TOML file (if any) and overlay `TOKENHOUND_*` variables.
pub fn load_raw(
    file: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> Result<RawSettings, SettingsError> {
    let mut table = match file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| SettingsError(vec![format!("{}: {e}", p.display())]))?;
            text.parse::<toml::Table>().map_err(|e| SettingsError(vec![toml_error(p, &text, &e)]))?
        }
        None => toml::Table::new(),
    };
    let mut errs = Vec::new();
    for (k, v) in env {
        let Some(rest) = k.strip_prefix("TOKENHOUND_") else {
            continue;
        };
        if rest == "LOG" || rest == "CONFIG" {
            continue;
        }
        let path: Vec<String> = rest.to_ascii_lowercase().split("__").map(String::from).collect();
        // A TOML value when it parses as one (numbers, lists), else a string.
        let value = format!("v = {v}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(v));
        let mut t = &mut table;
        for (i, part) in path.iter().enumerate() {
            if i + 1 == path.len() {
                t.insert(part.clone(), value.clone());
            } else {
                let entry = t.entry(part.clone()).or_insert_with(|| toml::Value::Table(Default::default()));
                match entry {
                    toml::Value::Table(inner) => t = inner,
                    _ => {
                        errs.push(format!("{k}: `{part}` is not a section"));
                        break;
                    }
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(SettingsError(errs));
    }
    RawSettings::deserialize(toml::Value::Table(table)).map_err(|e| SettingsError(vec![without_values(&e.to_string())]))
}

/// A duration setting (`5s`, `24h`), its default when unset; an error names the key.
fn duration(v: &Option<String>, key: &str, default: i64, errs: &mut Vec<String>) -> i64 {
    match v.as_deref().map(parse_duration) {
        None => default,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            errs.push(format!("{key}: {e}"));
            default
        }
    }
}

/// A TOML syntax error with its line, but without the snippet toml quotes:
/// the bad line may hold the identity key.
fn toml_error(p: &Path, text: &str, e: &toml::de::Error) -> String {
    let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    match line {
        Some(l) => format!("{}:{l}: {}", p.display(), e.message()),
        None => format!("{}: {}", p.display(), e.message()),
    }
}

impl RawSettings {
    /// Validate into [`Settings`], collecting every error.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        let mut errs = Vec::new();
        let e = &self.engine;
        let allowed_lateness_secs = duration(&e.allowed_lateness, "engine.allowed_lateness", 5, &mut errs);
        let idle_ttl_secs = duration(&e.idle_ttl, "engine.idle_ttl", 86_400, &mut errs);
        let exp_margin_secs = duration(&e.exp_margin, "engine.exp_margin", 300, &mut errs);
        let jwks_refresh_secs = duration(&self.token.jwks_refresh, "token.jwks_refresh", 600, &mut errs);
        let mut trusted = Vec::new();
        for c in &self.ingest.trusted_proxies {
            match c.parse::<ipnet::IpNet>().or_else(|_| c.parse::<std::net::IpAddr>().map(Into::into)) {
                Ok(n) => trusted.push(n),
                Err(_) => errs.push(format!("ingest.trusted_proxies: {c:?} is not a CIDR")),
            }
        }
        let rules_dir = self.rules_dir;
        for (name, d) in
            rules_dir.iter().map(|d| ("rules_dir", d)).chain(self.extra_rules.iter().map(|d| ("extra_rules", d)))
        {
            if !d.is_dir() {
                errs.push(format!("{name}: {} is not a directory", d.display()));
            }
        }
        let geo_anon = self.geo.anonymizers(&mut errs);
        let cities = self.geo.city.paths();
        let mut files: Vec<(&str, &PathBuf)> = cities.iter().map(|p| ("geo.city", p)).collect();
        files.extend(self.geo.asn.iter().map(|p| ("geo.asn", p)));
        let is_url = |p: &PathBuf| p.to_str().is_some_and(|s| s.starts_with("http://") || s.starts_with("https://"));
        files.extend(self.token.jwks.iter().filter(|p| !is_url(p)).map(|p| ("token.jwks", p)));
        let pems: Vec<PemKey> = self.token.pem.iter().map(PemIn::key).collect();
        files.extend(pems.iter().map(|p| ("token.pem", &p.path)));
        for (name, p) in files {
            if !p.is_file() {
                errs.push(format!("{name}: {} does not exist", p.display()));
            }
        }
        if let Some(k) = &self.token.identity_key {
            if k.expose().len() < 16 {
                errs.push("token.identity_key: must be at least 16 bytes".into());
            }
        }
        let max_tokens = self.engine.max_tokens.unwrap_or(1_000_000);
        if max_tokens == 0 {
            errs.push("engine.max_tokens: must be at least 1".into());
        }
        if allowed_lateness_secs > 3600 {
            errs.push("engine.allowed_lateness: at most 1h (events are buffered that long)".into());
        }
        let stream = self.stream.validate(&mut errs);
        let (respond, risk) = (self.respond.validate(&mut errs), self.risk.validate(&mut errs));
        let investigate = self.investigate.validate(&mut errs);
        if !errs.is_empty() {
            return Err(SettingsError(errs));
        }
        Ok(Settings {
            rules_dir,
            extra_rules: self.extra_rules,
            profile: self.profile.unwrap_or(Profile::Auto),
            geo_city: cities,
            geo_asn: self.geo.asn,
            geo_schema: self.geo.schema.unwrap_or(GeoSchema::Auto),
            geo_cache: self.geo.cache_size.unwrap_or(65_536),
            geo_anon,
            identity_key: self.token.identity_key,
            jwks: self.token.jwks,
            pem: pems.clone(),
            algorithms: self.token.algorithms.unwrap_or_else(|| {
                ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
                    .map(String::from)
                    .to_vec()
            }),
            leeway_secs: self.token.leeway_secs.unwrap_or(60),
            max_token_bytes: self.token.max_token_bytes.unwrap_or(16 * 1024),
            jwks_refresh_secs,
            trust_gateway_claims: self.token.trust_gateway_claims.unwrap_or(false),
            trusted_proxies: trusted,
            max_line_bytes: self.ingest.max_line_bytes.unwrap_or(1 << 20),
            allowed_lateness_secs,
            max_tokens,
            max_untrusted_tokens: self.engine.max_untrusted_tokens.unwrap_or(100_000).max(1),
            max_buffered: self.engine.max_buffered.unwrap_or(2_000_000).max(1),
            idle_ttl_secs,
            exp_margin_secs,
            format: self.output.format.unwrap_or(Format::Ocsf),
            stream,
            respond,
            risk,
            investigate,
        })
    }
}

#[cfg(test)]
mod tests;
