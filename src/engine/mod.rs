//! THE core: synchronous, deterministic, no I/O, no wall clock. Events go in
//! (`observe`), are held in a reorder buffer until the watermark passes them,
//! then run through every rule against per-token state; findings come out.
//! Time comes only from events; state expires only on watermarks.

pub mod detectors;
mod reorder;
pub mod revocations;
pub mod state;
pub mod ua;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::model::{AccessEvent, EventTime, Finding, TokenInfo, Use};
use crate::rules::{Detector, RuleSet};
use detectors::{place_key, Ctx};
use reorder::Reorder;
pub use revocations::RevocationView;
pub use state::{Evictions, StateLimits};
use state::{States, TokenState};

#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// How far out of order events may arrive and still be judged in order.
    pub allowed_lateness_secs: i64,
    pub limits: StateLimits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { allowed_lateness_secs: 5, limits: StateLimits::default() }
    }
}

/// Counters an operator reads (summary, metrics).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct EngineStats {
    pub events: u64,
    pub without_token: u64,
    /// Arrived behind the watermark: judged at once, possibly out of order.
    pub late: u64,
    pub findings: u64,
    pub suppressed_by_dedup: u64,
    pub tracked_tokens: usize,
    /// Events waiting in the reorder buffer.
    pub buffered: usize,
    pub evictions: Evictions,
}

pub struct Engine {
    rules: Arc<RuleSet>,
    cfg: EngineConfig,
    revocations: Arc<RevocationView>,
    states: States,
    buffer: Reorder,
    max_seen: EventTime,
    watermark: EventTime,
    stats: EngineStats,
    keep_recent_secs: i64,
    /// The place kinds concurrent-use rules count by.
    places: Places,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, revocations: Arc<RevocationView>, cfg: EngineConfig) -> Self {
        let keep_recent_secs = rules.max_window_secs();
        let mut places = Places::default();
        for r in &rules.rules {
            if let Detector::ConcurrentUse { by, .. } = r.detector {
                places.add(by);
            }
        }
        Engine {
            rules,
            cfg,
            revocations,
            states: States::new(cfg.limits),
            buffer: Reorder::default(),
            max_seen: EventTime::MIN,
            watermark: EventTime::MIN,
            stats: EngineStats::default(),
            keep_recent_secs,
            places,
        }
    }

    /// Replace the revocation view (stream: the feed updated it).
    pub fn set_revocations(&mut self, v: Arc<RevocationView>) {
        self.revocations = v;
    }

    pub fn watermark(&self) -> EventTime {
        self.watermark
    }

    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats.clone();
        s.tracked_tokens = self.states.len();
        s.buffered = self.buffer.len();
        s.evictions = self.states.evicted;
        s
    }

    /// Take one event; returns the findings of every event it releases.
    pub fn observe(&mut self, ev: AccessEvent) -> Vec<Finding> {
        let mut out = Vec::new();
        self.stats.events += 1;
        if ev.time < self.watermark {
            self.stats.late += 1;
            self.process(ev, &mut out);
            return out;
        }
        if ev.time > self.max_seen {
            self.max_seen = ev.time;
        }
        self.buffer.push(ev);
        let wm = self.max_seen.minus_secs(self.cfg.allowed_lateness_secs);
        self.release(wm, &mut out);
        out
    }

    /// Move the watermark forward (idle input, periodic ticks).
    pub fn advance_to(&mut self, wm: EventTime) -> Vec<Finding> {
        let mut out = Vec::new();
        self.release(wm, &mut out);
        out
    }

    /// End of input: judge everything still buffered. State is kept (it
    /// expires on watermarks only, so a stream can go on).
    pub fn drain(&mut self) -> Vec<Finding> {
        let mut out = Vec::new();
        while let Some(ev) = self.buffer.pop_until(EventTime::MAX) {
            self.process(ev, &mut out);
        }
        out
    }

    fn release(&mut self, wm: EventTime, out: &mut Vec<Finding>) {
        if wm <= self.watermark {
            return;
        }
        while let Some(ev) = self.buffer.pop_until(wm) {
            self.process(ev, out);
        }
        self.watermark = wm;
        self.states.expire(wm);
    }

    fn process(&mut self, ev: AccessEvent, out: &mut Vec<Finding>) {
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
        let ctx = Ctx { revocations: &self.revocations };
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
        match self.states.get_mut(&tok.key) {
            Some(st) => {
                if cur.located() {
                    st.later_located = Some(cur.clone());
                }
                st.deadline = st.deadline.max(deadline);
            }
            None => {
                let mut st = TokenState {
                    first: (*cur).clone(),
                    later_located: None,
                    recent: Default::default(),
                    deadline,
                    fired: None,
                    untrusted: tok.verdict.is_forged() || (tok.origin == crate::model::Origin::Raw && !tok.vouched),
                };
                update_recent(&mut st, &cur, keep, places, true);
                self.states.insert(tok.key, st);
            }
        }
        for (i, h) in hits {
            self.emit(i, h, &tok, time, out);
        }
    }

    fn emit(&mut self, i: usize, h: detectors::Hit, tok: &Arc<TokenInfo>, time: EventTime, out: &mut Vec<Finding>) {
        let rule = &self.rules.rules[i];
        if let Some(st) = self.states.get_mut(&tok.key) {
            let idx = i as u16;
            let fired = st.fired.get_or_insert_with(Default::default);
            match fired.iter_mut().find(|(r, _)| *r == idx) {
                Some((_, t)) if time < t.plus_secs(rule.dedup_secs) && time >= *t => {
                    self.stats.suppressed_by_dedup += 1;
                    return;
                }
                Some((_, t)) => *t = time,
                None => fired.push((idx, time)),
            }
            // Keep the state for the dedup window, even past the token's expiry.
            st.deadline = st.deadline.max(time.plus_secs(rule.dedup_secs));
        }
        self.stats.findings += 1;
        out.push(Finding {
            uid: finding_uid(&rule.id, &tok.id.display_id(), time),
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
        });
    }
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

/// Deterministic finding id: the same rule, token and triggering event time
/// give the same id in replay, stream and retries. UUID-shaped (v8).
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
mod tests;
