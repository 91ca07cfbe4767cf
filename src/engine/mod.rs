//! THE core: synchronous, deterministic, no I/O, no wall clock. Drivers feed
//! a [`Session`] (sources, watermark, reorder buffer); the session releases
//! events in event-time order to the [`Engine`], which runs every rule
//! against per-token state; findings come out. Time comes only from events;
//! state expires only on watermarks.

pub mod detectors;
mod prefetch;
mod reorder;
pub mod risk;
mod scoring;
mod seen;
mod session;
pub mod state;
pub mod subjects;
pub mod ua;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use smallvec::SmallVec;

pub use crate::model::RevocationView;
use crate::model::{AccessEvent, EventTime, Finding, TokenInfo, Use};
use crate::rules::{Detector, RuleSet};
use detectors::{place_key, Ctx};
pub use risk::RiskConfig;
pub use session::{Session, SessionStats, SourceId};
pub use state::{Evictions, StateLimits};
use state::{States, TokenState};
pub use subjects::BaselineLimits;

#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// How far out of order events may arrive within one source and still
    /// be judged in order.
    pub allowed_lateness_secs: i64,
    pub limits: StateLimits,
    /// At most this many events wait in a session's reorder buffer; beyond
    /// it the oldest are judged anyway (counted as forced).
    pub max_buffered: usize,
    pub baselines: BaselineLimits,
    pub risk: RiskConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            allowed_lateness_secs: 5,
            limits: StateLimits::default(),
            max_buffered: 2_000_000,
            baselines: BaselineLimits::default(),
            risk: RiskConfig::default(),
        }
    }
}

/// Counters an operator reads (summary, metrics).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct EngineStats {
    pub events: u64,
    pub without_token: u64,
    /// Arrived behind the watermark: judged at once, possibly out of order.
    pub late: u64,
    /// Judged before the watermark passed them: the reorder buffer was full.
    pub forced: u64,
    /// Dropped as a repeat of an event already seen from its source.
    pub duplicates: u64,
    pub findings: u64,
    pub suppressed_by_dedup: u64,
    pub tracked_tokens: usize,
    /// Of which in the pool of tokens anyone can mint.
    pub untrusted_tokens: usize,
    /// Events waiting in the reorder buffer.
    pub buffered: usize,
    pub evictions: Evictions,
    /// Subjects with a baseline.
    pub subjects: usize,
    /// Subjects dropped (unseen for the window, or over the cap).
    pub subject_evictions: Evictions,
}

impl EngineStats {
    /// Add another shard's counters.
    pub fn merge(&mut self, b: &EngineStats) {
        self.events += b.events;
        self.without_token += b.without_token;
        self.late += b.late;
        self.forced += b.forced;
        self.duplicates += b.duplicates;
        self.findings += b.findings;
        self.suppressed_by_dedup += b.suppressed_by_dedup;
        self.tracked_tokens += b.tracked_tokens;
        self.untrusted_tokens += b.untrusted_tokens;
        self.buffered += b.buffered;
        self.evictions.ttl += b.evictions.ttl;
        self.evictions.cap += b.evictions.cap;
        self.subjects += b.subjects;
        self.subject_evictions.ttl += b.subject_evictions.ttl;
        self.subject_evictions.cap += b.subject_evictions.cap;
    }
}

/// The judge: every rule against per-token state, one event at a time, in
/// the order the session releases them. Drivers never call it directly.
pub(crate) struct Engine {
    rules: Arc<RuleSet>,
    revocations: Arc<RevocationView>,
    states: States,
    stats: EngineStats,
    keep_recent_secs: i64,
    /// The place kinds concurrent-use rules count by.
    places: Places,
    subjects: subjects::Baselines,
    risk: RiskConfig,
}

impl Engine {
    pub(crate) fn new(rules: Arc<RuleSet>, revocations: Arc<RevocationView>, cfg: EngineConfig) -> Self {
        let keep_recent_secs = rules.max_window_secs();
        let mut places = Places::default();
        for r in &rules.rules {
            if let Detector::ConcurrentUse { by, .. } = r.detector {
                places.add(by);
            }
        }
        Engine {
            rules,
            revocations,
            states: States::new(cfg.limits),
            stats: EngineStats::default(),
            keep_recent_secs,
            places,
            subjects: subjects::Baselines::new(cfg.baselines),
            risk: cfg.risk,
        }
    }

    /// Replace the revocation view (stream: the feed updated it).
    pub(crate) fn set_revocations(&mut self, v: Arc<RevocationView>) {
        self.revocations = v;
    }

    pub(crate) fn stats(&self) -> EngineStats {
        let mut s = self.stats.clone();
        s.tracked_tokens = self.states.len();
        s.untrusted_tokens = self.states.untrusted();
        s.evictions = self.states.evicted;
        s.subjects = self.subjects.len();
        s.subject_evictions = Evictions { ttl: self.subjects.evicted_ttl, cap: self.subjects.evicted_cap };
        s
    }

    /// Drop the state of tokens whose deadline the watermark has passed.
    fn expire(&mut self, wm: EventTime) {
        self.states.expire(wm);
        self.subjects.expire(wm);
    }

    /// Judge one released event.
    fn process(&mut self, ev: AccessEvent, out: &mut Vec<Finding>) {
        self.stats.events += 1;
        let (tok, cur) = Use::split(ev);
        let Some(tok) = tok else {
            self.stats.without_token += 1;
            return;
        };
        let time = cur.time;
        let cur = Arc::new(cur);
        self.states.expire_one(&tok.key, time);
        let deadline = self.states.deadline(&tok, time);
        let (keep, places) = (self.keep_recent_secs, self.places);
        // Concurrency needs the current place in the window before judging.
        if let Some(st) = self.states.get_mut(&tok.key) {
            update_recent(st, &cur, keep, places, false);
        }
        let subject = subjects::subject_of(&tok);
        let baseline = subject.as_ref().and_then(|id| self.subjects.get(id));
        // a subject restored from a snapshot already holds its events up to then
        let folded = subject.clone().filter(|_| baseline.is_none_or(|s| time > s.skip_upto));
        let ctx = Ctx {
            revocations: &self.revocations,
            subject: baseline,
            window_secs: self.subjects.limits.window_secs,
            taint: Default::default(),
        };
        let st = self.states.get_mut(&tok.key);
        let st_ref: Option<&TokenState> = st.map(|s| &*s);
        let mut hits = Vec::new();
        for (i, rule) in self.rules.rules.iter().enumerate() {
            // scope and exceptions apply to this use; two-ended detectors
            // also check the earlier use they compare it with
            if !rule.scope.matches(&cur, &tok) || rule.exceptions.principal(&tok) || rule.exceptions.source(&cur) {
                continue;
            }
            if let Some(h) = detectors::evaluate(rule, st_ref, &tok, &cur, &ctx) {
                hits.push((i, h));
            }
        }
        let tainted = ctx.taint.get();
        match self.states.get_mut(&tok.key) {
            Some(st) => {
                if cur.located() {
                    st.later_located = Some(cur.clone());
                }
                if st.first_open.is_none() && st.first.hides_place() && !cur.hides_place() {
                    st.first_open = Some(cur.clone());
                }
                st.tainted |= tainted;
                st.deadline = st.deadline.max(deadline);
            }
            None => {
                let mut st = TokenState {
                    first: (*cur).clone(),
                    later_located: None,
                    recent: Default::default(),
                    deadline,
                    fired: None,
                    risk: None,
                    first_open: None,
                    tainted,
                    untrusted: tok.verdict.is_forged() || (tok.origin == crate::model::Origin::Raw && !tok.vouched),
                };
                update_recent(&mut st, &cur, keep, places, true);
                self.states.insert(tok.key, st);
            }
        }
        let quiet = hits.is_empty() && !tainted;
        let start = out.len();
        // the rules whose findings were made, in the order of out[start..]
        let mut made: SmallVec<[usize; 2]> = SmallVec::new();
        for (i, h) in hits {
            if self.emit(i, h, &tok, time, out) {
                made.push(i);
            }
        }
        self.score(&tok, &cur, folded.as_ref(), start, &made, out);
        let new_place = made.iter().any(|&i| matches!(self.rules.rules[i].detector, Detector::NewPlaceForSubject(_)));
        if let Some(id) = folded.as_ref().filter(|_| new_place) {
            let window = self.subjects.limits.window_secs;
            let s = self.subjects.entry(id, time.as_secs());
            for k in [subjects::country_key(&cur), subjects::network_key(&cur)].into_iter().flatten() {
                s.report(detectors::reported_tag(k), time.as_secs(), window);
            }
        }
        // a subject learns only from uses that raised nothing, of tokens not at risk
        if let Some(id) = folded.filter(|_| quiet) {
            let at_risk = self.states.get_mut(&tok.key).is_some_and(|s| s.risk.is_some() || s.tainted);
            if !at_risk {
                self.subjects.learn(&id, &cur);
            }
        }
    }

    /// A hit becomes a finding unless its rule already fired for this token
    /// in the same dedup window. Windows are fixed (epoch-aligned, one
    /// `dedup` long), so which hits survive, and the finding's uid (rule,
    /// token, window), do not depend on the order events arrived in.
    /// True when a finding was made.
    fn emit(
        &mut self,
        i: usize,
        h: detectors::Hit,
        tok: &Arc<TokenInfo>,
        time: EventTime,
        out: &mut Vec<Finding>,
    ) -> bool {
        let rule = &self.rules.rules[i];
        let window = dedup_window(time, rule.dedup_secs);
        if let Some(st) = self.states.get_mut(&tok.key) {
            let idx = i as u16;
            let fired = st.fired.get_or_insert_with(Default::default);
            if fired.iter().any(|(r, w)| *r == idx && *w == window) {
                self.stats.suppressed_by_dedup += 1;
                return false;
            }
            fired.retain(|(r, _)| *r != idx);
            fired.push((idx, window));
            // Keep the state for the dedup window, even past the token's expiry.
            st.deadline = st.deadline.max(window.plus_secs(rule.dedup_secs));
        }
        self.stats.findings += 1;
        out.push(Finding {
            uid: finding_uid(&rule.id, &tok.id.display_id(), window),
            rule_id: rule.id.clone(),
            rule_title: rule.title.clone(),
            severity: h.severity.map_or(rule.severity, |s| s.min(rule.severity)),
            techniques: rule.techniques.clone(),
            response: rule.response,
            time,
            token: tok.clone(),
            message: h.message,
            confidence: rule.confidence.unwrap_or(h.confidence),
            evidence: h.evidence,
            details: h.details,
            risk: None,
        });
        true
    }
}

/// The start of the dedup window `t` falls in (`t` itself without dedup).
fn dedup_window(t: EventTime, dedup_secs: i64) -> EventTime {
    if dedup_secs <= 0 {
        return t;
    }
    let w = dedup_secs.saturating_mul(1_000_000);
    EventTime(t.0.div_euclid(w) * w)
}

/// Keep the latest use per place inside the window, for each place kind a
/// rule counts by.
fn update_recent(st: &mut TokenState, cur: &Arc<Use>, keep_secs: i64, places: Places, is_first: bool) {
    if keep_secs <= 0 {
        return;
    }
    let from = cur.time.minus_secs(keep_secs);
    let first_time = st.first.time;
    st.recent.retain(|(_, u)| u.as_ref().map_or(first_time, |u| u.time) >= from);
    for by in places.iter() {
        let Some(k) = place_key(cur, by) else {
            continue;
        };
        match st.recent.iter_mut().find(|(key, _)| *key == k) {
            Some(e) if e.1.as_ref().map_or(first_time, |u| u.time) <= cur.time => e.1 = Some(cur.clone()),
            Some(_) => {}
            None => st.recent.push((k, if is_first { None } else { Some(cur.clone()) })),
        }
        if st.recent.len() > 64 {
            st.recent.remove(0);
        }
    }
}

/// A set of place kinds (at most three): a copyable bit set.
#[derive(Clone, Copy, Default)]
struct Places(u8);

impl Places {
    const ALL: [crate::rules::Place; 3] =
        [crate::rules::Place::Ip, crate::rules::Place::Prefix, crate::rules::Place::Asn];

    fn add(&mut self, p: crate::rules::Place) {
        self.0 |= 1 << (p as u8);
    }

    fn iter(self) -> impl Iterator<Item = crate::rules::Place> {
        Self::ALL.into_iter().filter(move |p| self.0 & (1 << (*p as u8)) != 0)
    }
}

/// Deterministic finding id: the same rule, token and dedup window give the
/// same id in replay, stream and retries, whatever the arrival order.
/// UUID-shaped (v8).
pub fn finding_uid(rule: &str, token: &str, t: EventTime) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(token.as_bytes());
    h.update([0]);
    h.update(t.0.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

#[cfg(test)]
mod sides_tests;
#[cfg(test)]
mod tests;
