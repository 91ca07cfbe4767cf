//! The per-worker ingest stage: structural checks (size, nesting depth),
//! profile parse (each record of a Kong batch on its own), then the common
//! finishing (client IP, caps, JWT scrubbing, interning, token resolution)
//! into [`AccessEvent`]s.

use std::sync::Arc;

use ipnet::IpNet;

use super::common::{bearer, clean_path, client_ip, Interner};
use super::fields::Parsed;
use super::{aws, envoy, kong, native, nginx, scan, traefik, IngestError, Profile};
use crate::model::{AccessEvent, SourcePos, TokenInfo};
use crate::token::{redact_jwts, TokenResolver};

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub profile: Profile,
    pub trusted_proxies: Vec<IpNet>,
    /// Lines longer than this are refused before parsing.
    pub max_line_bytes: usize,
    /// Lines nesting deeper than this are refused before parsing.
    pub max_depth: usize,
    pub max_user_agent_bytes: usize,
    pub max_path_bytes: usize,
    /// Trust a `verdict` carried by a `tokenhound` line (only tokenhound's
    /// own exports, read back by tokenhound, carry one worth trusting).
    pub trust_verdicts: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            profile: Profile::Auto,
            trusted_proxies: Vec::new(),
            max_line_bytes: 1 << 20,
            max_depth: scan::MAX_DEPTH,
            max_user_agent_bytes: 512,
            max_path_bytes: 2048,
            trust_verdicts: false,
        }
    }
}

pub struct Ingestor {
    cfg: IngestConfig,
    pub tokens: TokenResolver,
    strings: Interner,
    /// User agents that redaction left as they were sent, interned as
    /// sent: one seen before is not scanned for tokens again.
    clean_agents: Interner,
    /// The profile `auto` found for the previous line (a hint for speed only).
    last: Option<Profile>,
    /// What ingest repaired or distrusted on the way (never a line lost).
    pub counts: IngestCounts,
}

/// Lines ingest read in spite of something odd in them, by what it was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// Lines with bytes that are not UTF-8, read with U+FFFD in their place.
    pub lossy_utf8: u64,
    /// Events whose bearer token is not the token the gateway vouched for
    /// (its logged claims name another): the claims named the event.
    pub bearer_mismatch: u64,
}

impl IngestCounts {
    /// `self - before`, field by field.
    pub fn since(&self, before: &IngestCounts) -> IngestCounts {
        IngestCounts {
            lossy_utf8: self.lossy_utf8 - before.lossy_utf8,
            bearer_mismatch: self.bearer_mismatch - before.bearer_mismatch,
        }
    }

    pub fn add(&mut self, o: &IngestCounts) {
        self.lossy_utf8 += o.lossy_utf8;
        self.bearer_mismatch += o.bearer_mismatch;
    }
}

const SHORT: usize = 256;

impl Ingestor {
    pub fn new(cfg: IngestConfig, tokens: TokenResolver) -> Self {
        Ingestor {
            cfg,
            tokens,
            strings: Interner::new(16_384),
            clean_agents: Interner::new(16_384).with_max_bytes(4 << 20),
            last: None,
            counts: IngestCounts::default(),
        }
    }

    /// Parse one line into zero or more events (Kong batches hold many).
    /// The first problem is returned; the good records of a batch are still
    /// appended to `out` (a whole-line error appends nothing).
    pub fn ingest(&mut self, line: &[u8], source: &SourcePos, out: &mut Vec<AccessEvent>) -> Result<(), IngestError> {
        let mut errs = Vec::new();
        self.ingest_all(line, source, out, &mut errs);
        match errs.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Parse one line: every event to `out`, every problem to `errors` (a
    /// whole-line problem, or one per bad record of a batch).
    pub fn ingest_all(
        &mut self,
        line: &[u8],
        source: &SourcePos,
        out: &mut Vec<AccessEvent>,
        errors: &mut Vec<IngestError>,
    ) {
        if line.len() > self.cfg.max_line_bytes {
            return errors.push(IngestError::TooLong { len: line.len(), max: self.cfg.max_line_bytes });
        }
        // A byte that is not UTF-8 (a user agent with 0xff) costs the line
        // nothing: every field is the sender's anyway, so the line is read
        // with U+FFFD in place of the bad bytes, and counted. (simdutf8:
        // the check reads a whole line, 64 bytes at a time.)
        let repaired: String;
        let line = match simdutf8::basic::from_utf8(line) {
            Ok(_) => line,
            Err(_) => {
                self.counts.lossy_utf8 += 1;
                repaired = String::from_utf8_lossy(line).into_owned();
                repaired.as_bytes()
            }
        };
        if let Err(at) = scan::check_depth(line, self.cfg.max_depth) {
            return errors.push(IngestError::TooDeep { at, max: self.cfg.max_depth });
        }
        let first = line.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let is_array = first == Some(b'[');
        let profile = match self.cfg.profile {
            Profile::Auto => {
                // After a Kong line, the next object is read as Kong first:
                // a Kong record that parses has a `started_at`, the key that
                // outranks every other in detection, so the answer is the
                // one detection gives, without walking the line twice.
                if self.last == Some(Profile::Kong)
                    && first == Some(b'{')
                    && self.one(Profile::Kong, line, source, out).is_ok()
                {
                    return;
                }
                match Profile::detect(line) {
                    Some(p) => {
                        self.last = Some(p);
                        p
                    }
                    None => return errors.push(IngestError::UnknownProfile),
                }
            }
            p => p,
        };
        if profile == Profile::Kong && is_array {
            if self.batch(line, source, out) {
                return;
            }
            let Some(parts) = scan::split_array(line) else {
                let why = super::common::from_json::<serde::de::IgnoredAny>(line, "kong").err();
                return errors.push(self.whole_line(why));
            };
            for (index, (a, b)) in parts.into_iter().enumerate() {
                if let Err(e) = self.one(profile, &line[a..b], source, out) {
                    errors.push(IngestError::InBatch { index, err: Box::new(e) });
                }
            }
            return;
        }
        if let Err(e) = self.one(profile, line, source, out) {
            errors.push(self.whole_line(Some(e)));
        }
    }

    /// A Kong batch whose every record is good, in one pass (`false`, with
    /// nothing appended, sends it to the record-by-record path).
    fn batch(&mut self, line: &[u8], source: &SourcePos, out: &mut Vec<AccessEvent>) -> bool {
        let (start, trust) = (out.len(), self.cfg.trust_verdicts);
        let mut emit = |p: Parsed<'_>| -> Result<(), IngestError> {
            out.push(self.finish(p, source, trust));
            Ok(())
        };
        if kong::parse_batch(line, &mut emit).is_ok() {
            return true;
        }
        out.truncate(start);
        false
    }

    /// The reason a whole line is bad (the parser's, or not an array).
    fn whole_line(&self, e: Option<IngestError>) -> IngestError {
        e.unwrap_or(IngestError::Json { profile: "kong", why: "not a JSON array of records".into() })
    }

    /// One record (one object) of a profile; nothing is appended on error.
    fn one(
        &mut self,
        profile: Profile,
        rec: &[u8],
        source: &SourcePos,
        out: &mut Vec<AccessEvent>,
    ) -> Result<(), IngestError> {
        let start = out.len();
        let trust = self.cfg.trust_verdicts;
        let r = {
            let mut emit = |p: Parsed<'_>| -> Result<(), IngestError> {
                out.push(self.finish(p, source, trust));
                Ok(())
            };
            match profile {
                Profile::Kong => kong::parse(rec, &mut emit),
                Profile::Envoy => envoy::parse(rec, &mut emit),
                Profile::AwsApigw => aws::parse(rec, &mut emit),
                Profile::Traefik => traefik::parse(rec, &mut emit),
                Profile::Nginx => nginx::parse(rec, &mut emit),
                Profile::Tokenhound | Profile::Auto => native::parse(rec, &mut emit),
            }
        };
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn finish(&mut self, p: Parsed<'_>, source: &SourcePos, trust_verdicts: bool) -> AccessEvent {
        let mut token = self.token(&p);
        if let (true, Some(v), Some(t)) = (trust_verdicts, p.verdict, token.as_mut()) {
            if t.verdict != v {
                let m = Arc::make_mut(t);
                m.verdict = v;
                m.vouched = m.vouched && !v.is_forged();
            }
        }
        let ip = client_ip(p.peer.as_deref(), p.xff.as_deref(), &self.cfg.trusted_proxies);
        let (s, clean) = (&mut self.strings, &mut self.clean_agents);
        let method = p.method.as_deref().map(|m| m.trim()).filter(|m| !m.is_empty()).unwrap_or("-");
        let (ua_max, path_max) = (self.cfg.max_user_agent_bytes, self.cfg.max_path_bytes);
        AccessEvent {
            time: p.time,
            client_ip: ip,
            user_agent: p
                .user_agent
                .as_deref()
                .filter(|u| !u.is_empty() && *u != "-")
                .map(|u| user_agent(u, ua_max, clean, s)),
            method: s.get(&redact_jwts(method), 16),
            path: s.get(&clean_path(p.path.as_deref().unwrap_or("-")), path_max),
            status: p.status,
            request_id: p
                .request_id
                .as_deref()
                .filter(|r| !r.is_empty() && *r != "-")
                .map(|r| Arc::from(super::common::cut(&redact_jwts(r), SHORT))),
            gateway: p.gateway.as_deref().filter(|g| !g.is_empty()).map(|g| s.get(&redact_jwts(g), SHORT)),
            bytes: p.bytes,
            token,
            geo: p.geo.map(Arc::new),
            source: source.clone(),
        }
    }

    /// The event's token. Claims a verifying gateway logged (vouched) name
    /// the event: a raw bearer beside them is used only when it is the same
    /// token (it can be verified again); one that is not (`Bearer x` next
    /// to a real token's claims) is counted and noted, never the identity,
    /// or any client could hide a theft behind a garbage header. Without
    /// vouched claims, the raw token wins (it can be verified); else claims.
    fn token(&mut self, p: &Parsed<'_>) -> Option<Arc<TokenInfo>> {
        let raw = p.raw_token.as_deref().or_else(|| p.authorization.as_deref().and_then(bearer));
        let claims = || p.claims.as_ref();
        let Some(raw) = raw else {
            return self.tokens.from_claims(claims()?, p.lenient_claims);
        };
        let vouched = match claims() {
            Some(c) => self.tokens.from_claims(c, p.lenient_claims).filter(|t| t.vouched),
            None => None,
        };
        let from_raw = self.tokens.from_raw(raw);
        match vouched {
            Some(c) if !same_token(&from_raw, &c) => {
                self.counts.bearer_mismatch += 1;
                let mut c = c;
                Arc::make_mut(&mut c).detail = Some(BEARER_MISMATCH.into());
                Some(c)
            }
            _ => Some(from_raw),
        }
    }
}

/// A user agent as it leaves ingest: JWTs redacted, interned. Most uses
/// come from a few agents, and redaction scans every dot of one (`Mozilla/5.0
/// ... AppleWebKit/537.36 ... Safari/537.36`): an agent redaction left as it
/// was (and not cut) is kept in `clean`, and the same text again is taken
/// from there unscanned. Only such agents go to `clean`, so what it returns
/// is what redaction would return.
fn user_agent(u: &str, max: usize, clean: &mut Interner, strings: &mut Interner) -> crate::model::IStr {
    let whole = u.len() <= max;
    if let Some(hit) = whole.then(|| clean.find(u)).flatten() {
        return hit;
    }
    match redact_jwts(u) {
        std::borrow::Cow::Borrowed(_) if whole => clean.get(u, max),
        r => strings.get(&r, max),
    }
}

/// The note on an event whose bearer was not the token the gateway vouched for.
const BEARER_MISMATCH: &str = "the request's bearer token is not the one whose claims the gateway verified";

/// A decoded bearer and logged claims describe the same token: same issuer
/// and `jti` (or, without one, same subject and issue time).
fn same_token(raw: &TokenInfo, claims: &TokenInfo) -> bool {
    raw.iss == claims.iss
        && match &claims.jti {
            Some(j) => raw.jti.as_ref() == Some(j),
            None => raw.jti.is_none() && raw.sub == claims.sub && raw.iat == claims.iat && claims.sub.is_some(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `user_agent` against redaction and the cut, with interners small
    /// enough that generations turn over and agents are promoted back from
    /// the old one: whatever the history, the same text as a fresh read.
    #[test]
    fn a_kept_agent_is_what_redaction_gives_through_every_generation() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64(r#"{"sub":"a"}"#));
        let pieces = ["Mozilla/5.0 ", jwt.as_str(), "é", "€.", "token=", ".x.", "curl/8.5", "=", "<jwt-redacted>"];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (cap, bytes, max) in [(1, 64, 16), (2, 40, 24), (3, 1 << 20, 40), (8, 200, 300)] {
            let mut clean = Interner::new(cap).with_max_bytes(bytes);
            let mut strings = Interner::new(cap);
            let agents: Vec<String> = (0..12)
                .map(|_| (0..1 + next() % 4).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect())
                .collect();
            for _ in 0..3000 {
                let u = &agents[(next() % agents.len() as u64) as usize];
                let got = user_agent(u, max, &mut clean, &mut strings);
                assert_eq!(&*got, crate::model::cut(&redact_jwts(u), max), "agent {u:?}, cap {cap}, max {max}");
                assert!(!got.contains("eyJhbGciOiJIUzI1NiJ9."), "a token left in {got:?}");
            }
        }
    }
}
