//! The per-worker ingest stage: profile parse, then the common finishing
//! (client IP, caps, interning, token resolution) into [`AccessEvent`]s.

use std::sync::Arc;

use ipnet::IpNet;

use super::common::{bearer, client_ip, Interner};
use super::fields::Parsed;
use super::{aws, envoy, kong, native, nginx, traefik, IngestError, Profile};
use crate::model::{AccessEvent, SourcePos};
use crate::token::TokenResolver;

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub profile: Profile,
    pub trusted_proxies: Vec<IpNet>,
    /// Lines longer than this are refused before parsing.
    pub max_line_bytes: usize,
    pub max_user_agent_bytes: usize,
    pub max_path_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            profile: Profile::Auto,
            trusted_proxies: Vec::new(),
            max_line_bytes: 1 << 20,
            max_user_agent_bytes: 512,
            max_path_bytes: 2048,
        }
    }
}

pub struct Ingestor {
    cfg: IngestConfig,
    pub tokens: TokenResolver,
    strings: Interner,
}

const SHORT: usize = 256;

impl Ingestor {
    pub fn new(cfg: IngestConfig, tokens: TokenResolver) -> Self {
        Ingestor { cfg, tokens, strings: Interner::new(16_384) }
    }

    /// Parse one line into zero or more events (Kong batches hold many).
    /// On error nothing is appended to `out`.
    pub fn ingest(&mut self, line: &[u8], source: &SourcePos, out: &mut Vec<AccessEvent>) -> Result<(), IngestError> {
        if line.len() > self.cfg.max_line_bytes {
            return Err(IngestError::TooLong { len: line.len(), max: self.cfg.max_line_bytes });
        }
        let profile = match self.cfg.profile {
            Profile::Auto => Profile::detect(line).ok_or(IngestError::UnknownProfile)?,
            p => p,
        };
        let start = out.len();
        let r = {
            let mut emit = |p: Parsed<'_>| -> Result<(), IngestError> {
                let ev = self.finish(&p, source)?;
                out.push(ev);
                Ok(())
            };
            match profile {
                Profile::Kong => kong::parse(line, &mut emit),
                Profile::Envoy => envoy::parse(line, &mut emit),
                Profile::AwsApigw => aws::parse(line, &mut emit),
                Profile::Traefik => traefik::parse(line, &mut emit),
                Profile::Nginx => nginx::parse(line, &mut emit),
                Profile::Tokenhound | Profile::Auto => native::parse(line, &mut emit),
            }
        };
        if let Err(e) = r {
            out.truncate(start);
            // a clearer reason than the JSON parser's for binary garbage
            return Err(match std::str::from_utf8(line) {
                Err(u) => IngestError::NotUtf8 { at: u.valid_up_to() },
                Ok(_) => e,
            });
        }
        Ok(())
    }

    fn finish(&mut self, p: &Parsed<'_>, source: &SourcePos) -> Result<AccessEvent, IngestError> {
        let mut token = self.token(p)?;
        if let (Some(v), Some(t)) = (p.verdict, token.as_mut()) {
            if t.verdict != v {
                Arc::make_mut(t).verdict = v;
            }
        }
        let ip = client_ip(p.peer.as_deref(), p.xff.as_deref(), &self.cfg.trusted_proxies);
        let s = &mut self.strings;
        let method = p.method.as_deref().map(|m| m.trim()).filter(|m| !m.is_empty()).unwrap_or("-");
        Ok(AccessEvent {
            time: p.time,
            client_ip: ip,
            user_agent: p
                .user_agent
                .as_deref()
                .filter(|u| !u.is_empty() && *u != "-")
                .map(|u| s.get(u, self.cfg.max_user_agent_bytes)),
            method: s.get(method, 16),
            path: s.get(p.path.as_deref().unwrap_or("-"), self.cfg.max_path_bytes),
            status: p.status,
            request_id: p
                .request_id
                .as_deref()
                .filter(|r| !r.is_empty() && *r != "-")
                .map(|r| Arc::from(super::common::cut(r, SHORT))),
            gateway: p.gateway.as_deref().filter(|g| !g.is_empty()).map(|g| s.get(g, SHORT)),
            bytes: p.bytes,
            token,
            geo: p.geo.clone().map(Arc::new),
            source: source.clone(),
        })
    }

    /// The raw token wins when present (it can be verified); else claims.
    fn token(&mut self, p: &Parsed<'_>) -> Result<Option<Arc<crate::model::TokenInfo>>, IngestError> {
        let raw = p.raw_token.as_deref().or_else(|| p.authorization.as_deref().and_then(bearer));
        if let Some(raw) = raw {
            return Ok(Some(self.tokens.from_raw(raw)?));
        }
        match &p.claims {
            Some(c) => Ok(self.tokens.from_claims(c, p.lenient_claims)?),
            None => Ok(None),
        }
    }
}
