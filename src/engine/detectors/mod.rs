//! One file per detector kind. Each looks at the current event and the
//! token's state (before this event updates it) and may return a [`Hit`];
//! scope, exceptions, dedup and the finding itself are the engine's job.

mod anonymizer;
mod concurrent;
mod expired;
mod forged;
mod ip_drift;
mod new_place;
mod revoked;
mod travel;
mod ua_drift;

pub use ip_drift::place_key;
pub use new_place::tag as reported_tag;
pub use travel::haversine_km;

use std::sync::Arc;

use serde_json::{Map, Value};

use super::state::TokenState;
use crate::model::RevocationView;
use crate::model::{Apart, Evidence, Side, TokenInfo, Use};
use crate::rules::{Detector, Rule};

/// A detector's verdict before it becomes a finding.
#[derive(Debug)]
pub struct Hit {
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub details: Map<String, Value>,
    /// OCSF confidence_id: 1 low, 2 medium, 3 high.
    pub confidence: u8,
    /// A level other than the rule's, when the detector knows better
    /// (a forgery the gateway rejected is not the emergency an accepted one is).
    pub severity: Option<crate::model::Severity>,
}

pub struct Ctx<'a> {
    pub revocations: &'a RevocationView,
    /// The baseline of the token's vouched subject, if any.
    pub subject: Option<&'a crate::engine::subjects::Subject>,
    /// The baseline window, seconds.
    pub window_secs: i64,
    /// Set by a detector that saw something it does not report again (a new
    /// place of the subject reported already): the use is not quiet.
    pub taint: std::cell::Cell<bool>,
}

/// Run the rule's detector. `st` is `None` on a token's first use.
pub fn evaluate(rule: &Rule, st: Option<&TokenState>, tok: &TokenInfo, cur: &Arc<Use>, ctx: &Ctx<'_>) -> Option<Hit> {
    match &rule.detector {
        Detector::ForgedToken { verdicts, rejected } => forged::check(verdicts, *rejected, tok, cur),
        Detector::ExpiredUse { skew_secs } => expired::check(*skew_secs, tok, cur),
        Detector::RevokedUse { grace_secs, only_accepted } => {
            revoked::check(*grace_secs, *only_accepted, ctx.revocations, tok, cur)
        }
        Detector::ImpossibleTravel(p) => travel::check(p, &rule.exceptions, st?, cur),
        Detector::IpDrift(p) => ip_drift::check(p, &rule.exceptions, st?, cur),
        Detector::UaDrift(p) => ua_drift::check(p, st?, cur),
        Detector::ConcurrentUse { min_distinct, by, window_secs } => {
            concurrent::check(*min_distinct, *by, *window_secs, &rule.exceptions, st?, cur)
        }
        // judged on a token's first use only
        Detector::NewPlaceForSubject(p) if st.is_none() => new_place::check(p, ctx.subject?, ctx, cur),
        Detector::NewPlaceForSubject(_) => None,
        Detector::AnonymizerDrift => anonymizer::check(st?, cur),
        // fires on the engine's scores, not on a use
        Detector::RiskLevelChange(_) => None,
    }
}

/// A detector's measurements as the finding's details map.
pub(crate) fn details(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn ev(role: &'static str, side: Side, u: &Arc<Use>) -> Evidence {
    Evidence { role, side, used: u.clone() }
}

/// The other side's use, set apart by `by`.
pub(crate) fn other(role: &'static str, by: Apart, u: &Arc<Use>) -> Evidence {
    ev(role, Side::Other(by), u)
}

/// The owner's use.
pub(crate) fn owner(role: &'static str, u: &Arc<Use>) -> Evidence {
    ev(role, Side::Owner, u)
}

pub(crate) fn place_name(u: &Use) -> String {
    let ip = u.ip.map(|i| i.to_string()).unwrap_or_else(|| "?".into());
    match &u.geo {
        Some(g) => {
            let city = g.city.as_deref().unwrap_or("?");
            let cc = g.country.as_deref().unwrap_or("?");
            match g.asn {
                Some(a) => format!("{ip} ({city}, {cc}, AS{a})"),
                None => format!("{ip} ({city}, {cc})"),
            }
        }
        None => ip,
    }
}

pub(crate) fn human_secs(s: f64) -> String {
    let s = s.abs();
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.0}m", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}
