//! Risk: a decayed score per token and per subject, mapped onto the three
//! levels CAEP names (LOW, MEDIUM, HIGH). A finding's rule adds its `risk`
//! weight; crossing a level is itself a finding (`risk-level-change`).

use std::sync::Arc;

/// A risk level. `None` is below LOW (nothing to say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum RiskLevel {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl RiskLevel {
    /// The CAEP spelling (`LOW`, `MEDIUM`, `HIGH`; `NONE` below LOW).
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "NONE",
            RiskLevel::Low => "LOW",
            RiskLevel::Medium => "MEDIUM",
            RiskLevel::High => "HIGH",
        }
    }

    /// `low`, `medium`, `high` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "low" => RiskLevel::Low,
            "medium" => RiskLevel::Medium,
            "high" => RiskLevel::High,
            _ => return None,
        })
    }
}

/// Whose risk moved.
#[derive(Clone, Debug, PartialEq)]
pub enum RiskScope {
    /// The finding's token.
    Token,
    /// Everything a vouched subject holds (`iss` + `sub`): the step-up signal.
    Subject { iss: Arc<str>, sub: Arc<str> },
}

/// One finding that added to a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub finding_uid: String,
    pub rule_id: Arc<str>,
    pub weight: f32,
}

/// What a `risk-level-change` finding carries besides its evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskChange {
    pub scope: RiskScope,
    pub previous: RiskLevel,
    pub current: RiskLevel,
    /// The decayed score after the contributing finding.
    pub score: f32,
    /// The findings that made the score, newest last.
    pub contributing: Vec<Contribution>,
}
