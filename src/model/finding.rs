//! A finding: one rule firing for one token, with the uses that make the case
//! and the response the rule asks for.

use std::net::IpAddr;
use std::sync::Arc;

use super::{AccessEvent, EventTime, Geo, IStr, SourcePos, TokenInfo};

/// Rule level, Sigma names; maps onto OCSF `severity_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "informational" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    /// OCSF severity_id: 1 informational .. 5 critical.
    pub fn ocsf_id(self) -> u8 {
        self as u8 + 1
    }
}

/// What the rule asks the response stage to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    Alert,
    /// Alert and request revocation of the one token.
    RevokeToken,
    /// Alert and request revocation of everything the subject holds.
    RevokeSubject,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Alert => "alert",
            Response::RevokeToken => "revoke-token",
            Response::RevokeSubject => "revoke-subject",
        }
    }
}

/// One use of a token, as kept in state and shown as evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub time: EventTime,
    pub ip: Option<IpAddr>,
    pub status: u16,
    pub user_agent: Option<IStr>,
    pub method: IStr,
    pub path: IStr,
    pub geo: Option<Arc<Geo>>,
    pub source: SourcePos,
}

impl Use {
    /// True when GeoIP gave this use coordinates.
    pub fn located(&self) -> bool {
        self.geo.as_ref().is_some_and(|g| g.located().is_some())
    }

    /// Behind an anonymizer (VPN, Tor, proxy, relay).
    pub fn anonymized(&self) -> bool {
        self.geo.as_ref().is_some_and(|g| g.anonymized())
    }

    /// Take an event apart into its token and its use, without copying.
    pub fn split(ev: AccessEvent) -> (Option<Arc<TokenInfo>>, Use) {
        let u = Use {
            time: ev.time,
            ip: ev.client_ip,
            status: ev.status,
            user_agent: ev.user_agent,
            method: ev.method,
            path: ev.path,
            geo: ev.geo,
            source: ev.source,
        };
        (ev.token, u)
    }
}

/// One use in a finding, with the part it plays ("first use", "this use"...).
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub role: &'static str,
    pub used: Arc<Use>,
}

/// A rule fired. `uid` is deterministic: the same input gives the same uid.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub uid: String,
    pub rule_id: Arc<str>,
    pub rule_title: Arc<str>,
    pub severity: Severity,
    /// ATT&CK technique ids, e.g. `T1550.001`.
    pub techniques: Arc<[String]>,
    pub response: Response,
    pub time: EventTime,
    pub token: Arc<TokenInfo>,
    pub message: String,
    /// 1 low, 2 medium, 3 high (OCSF confidence_id).
    pub confidence: u8,
    pub evidence: Vec<Evidence>,
    /// Detector measurements (distance_km, speed_kmh, ...), for the alert.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Set on `risk-level-change` findings: whose risk moved, from what to what.
    pub risk: Option<Box<super::RiskChange>>,
}
