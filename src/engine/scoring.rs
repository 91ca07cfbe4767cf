//! Risk in the engine: the findings of one use add their rules' weights to
//! the token's score and, for a vouched token, to its subject's (never for a
//! token whose claims are the sender's words); a rise to a level a
//! `risk-level-change` rule watches is a finding of that rule, with the
//! contributing findings named and their uses as evidence. A token's rise
//! is reported when findings combine (one finding that makes the level alone
//! has been reported and answered already); a subject's rise always is (it
//! is the step-up signal for the next sign-in). Deterministic:
//! it depends only on the findings, in the order the engine makes them.

use std::sync::Arc;

use serde_json::json;

use super::subjects::SubjectId;
use super::{dedup_window, finding_uid, Engine};
use crate::model::{
    escape_part, Contribution, EventTime, Evidence, Finding, Response, RiskChange, RiskLevel, RiskScope, Severity,
    TokenInfo, Use,
};
use crate::rules::Detector;

/// A score's move: (level before, level after, score after, contributions).
type Moved = (RiskLevel, RiskLevel, f32, Vec<Contribution>);

impl Engine {
    /// Score the findings `out[start..]` of the use `cur`, made by the rules `made` (in order).
    pub(super) fn score(
        &mut self,
        tok: &Arc<TokenInfo>,
        cur: &Arc<Use>,
        subject: Option<&SubjectId>,
        start: usize,
        made: &[usize],
        out: &mut Vec<Finding>,
    ) {
        if out.len() == start {
            return;
        }
        let (cfg, t) = (self.risk, cur.time);
        let contribs: Vec<Contribution> = out[start..]
            .iter()
            .zip(made)
            .filter_map(|(f, &i)| {
                let w = self.rules.rules[i].risk;
                (w > 0.0).then(|| Contribution { finding_uid: f.uid.clone(), rule_id: f.rule_id.clone(), weight: w })
            })
            .collect();
        if contribs.is_empty() {
            return;
        }
        let mut evidence: Vec<Evidence> = Vec::new();
        for e in out[start..].iter().flat_map(|f| f.evidence.iter()) {
            if !evidence.iter().any(|x| Arc::ptr_eq(&x.used, &e.used) || *x.used == *e.used) {
                evidence.push(e.clone());
            }
        }
        let add = |score: &mut super::risk::Score| -> Moved {
            let before = cfg.level(score.value_at(t, &cfg));
            for c in &contribs {
                score.add(t, c.weight, c, &cfg);
            }
            let v = score.value_at(t, &cfg);
            (before, cfg.level(v), v, score.contributions())
        };
        let token_moved = self.states.get_mut(&tok.key).map(|st| add(st.risk.get_or_insert_with(Default::default)));
        let subject_moved = subject.map(|id| {
            let s = self.subjects.entry(id, t.as_secs());
            s.upto = s.upto.max(t);
            add(s.risk.get_or_insert_with(Default::default))
        });
        // each finding says where it left the scores (the SOC sees risk move)
        let level = |m: &Option<Moved>| {
            m.as_ref().map(|m| json!({ "score": (m.2 * 10.0).round() / 10.0, "level": m.1.as_str() }))
        };
        let risk = json!({ "token": level(&token_moved), "subject": level(&subject_moved) });
        for f in &mut out[start..] {
            f.details.insert("risk".into(), risk.clone());
        }
        let rules = self.rules.clone();
        for (i, rule) in rules.rules.iter().enumerate() {
            let Detector::RiskLevelChange(p) = &rule.detector else { continue };
            if !rule.scope.matches(cur, tok) || rule.exceptions.principal(tok) || rule.exceptions.source(cur) {
                continue;
            }
            let rises = |m: &Moved| m.1 > m.0 && m.1 >= p.min_level;
            // a token's rise is news only when findings combine: one finding
            // that makes the level alone has said it already (and responded)
            let alone = |m: &Moved| cfg.level(m.3.iter().map(|c| c.weight).fold(0.0, f32::max)) >= m.1;
            if let Some(m) = token_moved.as_ref().filter(|m| rises(m) && !alone(m)) {
                let revoke = p.revoke_at.is_some_and(|l| m.1 >= l);
                let response = if revoke { Response::RevokeToken } else { Response::Alert };
                if self.first_in_window(tok, i, m.1, t) {
                    let f = self.risk_finding(i, RiskScope::Token, m.clone(), response, tok, t, &evidence);
                    out.push(f);
                }
            }
            if let (true, Some(m), Some((iss, sub))) = (p.subjects, subject_moved.as_ref(), subject) {
                if rises(m) {
                    let scope = RiskScope::Subject { iss: iss.clone(), sub: sub.clone() };
                    out.push(self.risk_finding(i, scope, m.clone(), Response::Alert, tok, t, &evidence));
                }
            }
        }
    }

    /// A token's rise to `level` by rule `i` is reported once per dedup window.
    fn first_in_window(&mut self, tok: &TokenInfo, i: usize, level: RiskLevel, t: EventTime) -> bool {
        let window = dedup_window(t, self.rules.rules[i].dedup_secs);
        let Some(st) = self.states.get_mut(&tok.key) else { return true };
        let idx = (i as u16 & 0x0fff) | ((level as u16) << 12);
        let fired = st.fired.get_or_insert_with(Default::default);
        if fired.iter().any(|(r, w)| *r == idx && *w == window) {
            self.stats.suppressed_by_dedup += 1;
            return false;
        }
        fired.retain(|(r, _)| *r != idx);
        fired.push((idx, window));
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn risk_finding(
        &mut self,
        i: usize,
        scope: RiskScope,
        (before, after, score, parts): Moved,
        response: Response,
        tok: &Arc<TokenInfo>,
        t: EventTime,
        evidence: &[Evidence],
    ) -> Finding {
        let rule = &self.rules.rules[i];
        let (name, what) = match &scope {
            // tagged: no token name is a subject name (`t|` vs `s|`, parts escaped)
            RiskScope::Token => (format!("t|{}", tok.id.display_id()), "token".to_string()),
            RiskScope::Subject { iss, sub } => {
                (format!("s|{}|{}", escape_part(iss), escape_part(sub)), format!("subject {sub}"))
            }
        };
        let mut rules: Vec<&str> = parts.iter().map(|c| &*c.rule_id).collect();
        rules.sort_unstable();
        rules.dedup();
        let level_severity = match after {
            RiskLevel::High => Severity::High,
            RiskLevel::Medium => Severity::Medium,
            _ => Severity::Low,
        };
        self.stats.findings += 1;
        Finding {
            uid: finding_uid(&rule.id, &format!("{name}|{}", after.as_str()), dedup_window(t, rule.dedup_secs)),
            rule_id: rule.id.clone(),
            rule_title: rule.title.clone(),
            severity: level_severity.min(rule.severity),
            techniques: rule.techniques.clone(),
            response,
            time: t,
            token: tok.clone(),
            message: format!(
                "{what} risk rose from {} to {} (score {score:.0}): {}",
                before.as_str(),
                after.as_str(),
                rules.join(", ")
            ),
            confidence: rule.confidence.unwrap_or(if after == RiskLevel::High { 3 } else { 2 }),
            evidence: evidence.to_vec(),
            details: super::detectors::details(json!({
                "scope": if matches!(scope, RiskScope::Token) { "token" } else { "subject" },
                "previous_level": before.as_str(),
                "current_level": after.as_str(),
                "score": (score * 10.0).round() / 10.0,
                "contributing": parts.iter().map(|c| json!({
                    "finding_uid": c.finding_uid, "rule": &*c.rule_id, "risk": c.weight,
                })).collect::<Vec<_>>(),
            })),
            risk: Some(Box::new(RiskChange { scope, previous: before, current: after, score, contributing: parts })),
        }
    }
}
