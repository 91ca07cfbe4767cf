//! The `[risk]` section: per-subject baselines (window, cap on subjects) and
//! the risk scores (half-life, the score of each level).

use serde::Deserialize;

use super::duration;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawRisk {
    /// A score halves in this time (default 24h).
    pub half_life: Option<String>,
    /// The score at which a token or subject is LOW, MEDIUM, HIGH (10, 25, 50: one medium finding is MEDIUM, two within about 14 hours are HIGH).
    pub low: Option<f32>,
    pub medium: Option<f32>,
    pub high: Option<f32>,
    /// What a subject "has used": seen inside this window (default 30d).
    pub baseline_window: Option<String>,
    /// Subjects with a baseline, at most (the least recently seen evicted first).
    pub max_subjects: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskSettings {
    pub half_life_secs: i64,
    pub low: f32,
    pub medium: f32,
    pub high: f32,
    pub baseline_window_secs: i64,
    pub max_subjects: usize,
}

impl RawRisk {
    pub(super) fn validate(&self, errs: &mut Vec<String>) -> RiskSettings {
        let half_life_secs = duration(&self.half_life, "risk.half_life", 86_400, errs);
        let baseline_window_secs = duration(&self.baseline_window, "risk.baseline_window", 30 * 86_400, errs);
        let (low, medium, high) = (self.low.unwrap_or(10.0), self.medium.unwrap_or(25.0), self.high.unwrap_or(50.0));
        if !(low.is_finite() && medium.is_finite() && high.is_finite() && 0.0 < low && low < medium && medium < high) {
            errs.push(format!("risk: levels must rise: 0 < low < medium < high (got {low}, {medium}, {high})"));
        }
        if half_life_secs <= 0 {
            errs.push("risk.half_life: must be longer than 0s".into());
        }
        if baseline_window_secs < 3600 {
            errs.push("risk.baseline_window: at least 1h".into());
        }
        let max_subjects = self.max_subjects.unwrap_or(1_000_000);
        if max_subjects == 0 {
            errs.push("risk.max_subjects: must be at least 1".into());
        }
        RiskSettings { half_life_secs, low, medium, high, baseline_window_secs, max_subjects }
    }
}
