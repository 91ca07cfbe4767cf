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

    /// Behind an anonymizer that hides where its user is.
    pub fn hides_place(&self) -> bool {
        self.geo.as_ref().is_some_and(|g| g.hides_place())
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

/// One use in a finding, with the part it plays ("first use", "this use"...)
/// and the side it is on.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub role: &'static str,
    pub side: Side,
    pub used: Arc<Use>,
}

/// Which side of the case a use is on, as the detector judged it. Forensics
/// reads this (and nothing of its own) to tell the attacker's uses from the
/// owner's; alerts do not carry it (their output stays as it was).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The token's legitimate side: the use the other is measured against
    /// (ip-drift's and ua-drift's first use, the near end of an impossible
    /// travel, the concurrent place the token was first used from).
    Owner,
    /// The other side (the far place, the new network, the new client, a
    /// concurrent place), and what sets it apart from the owner's uses.
    Other(Apart),
}

/// What sets the other side's use apart from the owner's: the marks
/// forensics may follow to the token's later uses (a later use sharing the
/// place, the /24 or /48 prefix, or the client of an other-side use is the
/// other side's too). `since`: the token itself is no longer the owner's
/// from this time on (its revocation, its expiry plus the skew, a forged
/// token's use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Apart {
    pub place: bool,
    pub network: bool,
    pub client: bool,
    pub since: Option<EventTime>,
}

impl Apart {
    pub const PLACE: Apart = Apart { place: true, network: false, client: false, since: None };
    pub const NETWORK: Apart = Apart { place: false, network: true, client: false, since: None };
    pub const CLIENT: Apart = Apart { place: false, network: false, client: true, since: None };

    /// The token is the other side's from `t` on.
    pub fn since(t: EventTime) -> Apart {
        Apart { since: Some(t), ..Apart::default() }
    }

    pub fn or(self, o: Apart) -> Apart {
        Apart {
            place: self.place || o.place,
            network: self.network || o.network,
            client: self.client || o.client,
            since: match (self.since, o.since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
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
