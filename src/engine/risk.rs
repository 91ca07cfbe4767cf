//! Risk scores: each finding adds its rule's `risk` weight to its token's
//! score and, for a vouched token, to its subject's; scores halve every
//! `half_life`. Settings map a score onto LOW / MEDIUM / HIGH; a rise to a
//! level a `risk-level-change` rule watches is a finding of its own.

use serde::{Deserialize, Serialize};

use crate::model::{Contribution, EventTime, RiskLevel};

/// How many contributing findings a score remembers (newest kept).
const KEEP_CONTRIBUTIONS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskConfig {
    pub half_life_secs: i64,
    /// A score at or above each is that level.
    pub low: f32,
    pub medium: f32,
    pub high: f32,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig { half_life_secs: 86_400, low: 10.0, medium: 25.0, high: 50.0 }
    }
}

impl RiskConfig {
    pub fn level(&self, score: f32) -> RiskLevel {
        if score >= self.high {
            RiskLevel::High
        } else if score >= self.medium {
            RiskLevel::Medium
        } else if score >= self.low {
            RiskLevel::Low
        } else {
            RiskLevel::None
        }
    }
}

/// One finding's part in a score, as a score keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Part {
    pub uid: String,
    pub rule: String,
    pub weight: f32,
}

/// A decayed score.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Score {
    pub value: f32,
    /// When `value` was last updated.
    pub at: EventTime,
    pub parts: Vec<Part>,
}

impl Score {
    /// The score at `t`.
    pub fn value_at(&self, t: EventTime, cfg: &RiskConfig) -> f32 {
        let dt = self.at.secs_until(t).max(0.0);
        (self.value as f64 * 0.5f64.powf(dt / cfg.half_life_secs.max(1) as f64)) as f32
    }

    /// Add a finding's weight at `t`.
    pub fn add(&mut self, t: EventTime, w: f32, c: &Contribution, cfg: &RiskConfig) {
        self.value = self.value_at(t, cfg) + w;
        self.at = self.at.max(t);
        self.parts.push(Part { uid: c.finding_uid.clone(), rule: c.rule_id.to_string(), weight: w });
        if self.parts.len() > KEEP_CONTRIBUTIONS {
            self.parts.remove(0);
        }
    }

    pub fn contributions(&self) -> Vec<Contribution> {
        self.parts
            .iter()
            .map(|p| Contribution { finding_uid: p.uid.clone(), rule_id: p.rule.as_str().into(), weight: p.weight })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_decay() {
        let cfg = RiskConfig::default();
        let c = Contribution { finding_uid: "u".into(), rule_id: "ip-drift".into(), weight: 30.0 };
        let mut s = Score::default();
        let t0 = EventTime::from_secs(1_790_000_000);
        s.add(t0, 30.0, &c, &cfg);
        assert_eq!(cfg.level(s.value_at(t0, &cfg)), RiskLevel::Medium);
        s.add(t0.plus_secs(60), 30.0, &c, &cfg);
        assert_eq!(cfg.level(s.value_at(t0.plus_secs(60), &cfg)), RiskLevel::High, "two mediums make a high");
        let day = s.value_at(t0.plus_secs(60 + 86_400), &cfg);
        assert!((day - s.value / 2.0).abs() < 0.01, "halves in a half-life: {day}");
        assert_eq!(cfg.level(s.value_at(t0.plus_secs(10 * 86_400), &cfg)), RiskLevel::None);
    }
}
