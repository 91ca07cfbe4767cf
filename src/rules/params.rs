//! Detector kinds and their params: the YAML `detector.params` of each kind,
//! deserialized strictly and validated into [`Detector`].

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::parse_duration;
use super::schema::RuleFile;
use crate::model::{RiskLevel, Verdict};

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TravelParams {
    #[serde(default = "d_speed")]
    pub max_speed_kmh: f64,
    #[serde(default = "d_dist")]
    pub min_distance_km: f64,
    /// Travel to or from an anonymizer (VPN, Tor, proxy, relay): `skip`
    /// (default: where it exits says nothing of where the user is), `only`
    /// (judge only those: the `anonymized-travel` signal), or `judge` (all).
    #[serde(default = "d_anon")]
    pub anonymized: String,
}
fn d_anon() -> String {
    "skip".into()
}
fn d_speed() -> f64 {
    1000.0
}
fn d_dist() -> f64 {
    500.0
}

/// What counts as a change of place for ip-drift.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IpDriftParams {
    /// Any of `country`, `asn`, `prefix`.
    #[serde(default = "d_attrs")]
    pub attributes: Vec<String>,
    /// Changes between two located uses closer than this are ignored
    /// (wifi <-> cellular in one city).
    #[serde(default = "d_near")]
    pub min_distance_km: f64,
    #[serde(default = "d_v4")]
    pub prefix_v4: u8,
    #[serde(default = "d_v6")]
    pub prefix_v6: u8,
}
fn d_attrs() -> Vec<String> {
    vec!["country".into()]
}
fn d_near() -> f64 {
    100.0
}
fn d_v4() -> u8 {
    24
}
fn d_v6() -> u8 {
    48
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UaDriftParams {
    #[serde(default = "yes")]
    pub on_family: bool,
    #[serde(default = "yes")]
    pub on_os: bool,
    #[serde(default = "yes")]
    pub on_script_client: bool,
}
fn yes() -> bool {
    true
}

/// What concurrent-use counts as distinct places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Ip,
    Prefix,
    Asn,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConcurrentIn {
    #[serde(default = "d_min")]
    min_distinct: usize,
    #[serde(default = "d_by")]
    by: String,
    #[serde(default = "d_window")]
    window: String,
}
fn d_min() -> usize {
    3
}
fn d_by() -> String {
    "asn".into()
}
fn d_window() -> String {
    "10m".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkewIn {
    #[serde(default = "d_skew")]
    skew: String,
    #[serde(default)]
    only_accepted: Option<bool>,
}
fn d_skew() -> String {
    "60s".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgedIn {
    #[serde(default = "d_verdicts")]
    verdicts: Vec<String>,
    /// The level of a forgery the gateway rejected (4xx/5xx).
    #[serde(default = "d_rejected")]
    rejected_level: String,
}
fn d_rejected() -> String {
    "medium".into()
}
fn d_verdicts() -> Vec<String> {
    ["bad_signature", "unknown_kid", "alg_none", "alg_not_allowed", "malformed"].map(String::from).to_vec()
}

/// What counts as new for a subject (new-place-for-subject).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlaceParams {
    pub country: bool,
    /// A new ASN (a new /24 or /48 without an ASN database) far from every
    /// city the subject was seen in.
    pub network: bool,
    /// A new client family / OS.
    pub client: bool,
    /// A new network closer than this to a known city is not new.
    pub min_distance_km: f64,
    /// The subject's history must span this long before it may alert.
    pub learning_secs: i64,
    /// ... and hold this many uses.
    pub learning_uses: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPlaceIn {
    #[serde(default = "d_np_attrs")]
    attributes: Vec<String>,
    #[serde(default = "d_near")]
    min_distance_km: f64,
    #[serde(default = "d_learning")]
    learning: String,
    #[serde(default = "d_learning_uses")]
    learning_uses: u32,
}
fn d_np_attrs() -> Vec<String> {
    vec!["country".into(), "network".into()]
}
fn d_learning() -> String {
    "7d".into()
}
fn d_learning_uses() -> u32 {
    20
}

/// When risk-level-change fires and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskChangeParams {
    /// Crossings into this level or above are findings.
    pub min_level: RiskLevel,
    /// A token whose own level reaches this is revoked (`None`: never).
    pub revoke_at: Option<RiskLevel>,
    /// Also judge each vouched subject's level (the step-up signal).
    pub subjects: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskChangeIn {
    #[serde(default = "d_min_level")]
    min_level: String,
    #[serde(default)]
    revoke_at: Option<String>,
    #[serde(default = "yes")]
    subjects: bool,
}
fn d_min_level() -> String {
    "medium".into()
}

/// A detector kind with its validated params.
#[derive(Debug, Clone, PartialEq)]
pub enum Detector {
    ImpossibleTravel(TravelParams),
    IpDrift(IpDriftParams),
    UaDrift(UaDriftParams),
    ConcurrentUse { min_distinct: usize, by: Place, window_secs: i64 },
    RevokedUse { grace_secs: i64, only_accepted: bool },
    ExpiredUse { skew_secs: i64 },
    ForgedToken { verdicts: Vec<Verdict>, rejected: crate::model::Severity },
    NewPlaceForSubject(NewPlaceParams),
    AnonymizerDrift,
    RiskLevelChange(RiskChangeParams),
}

impl Detector {
    /// The `detector.kind` of the rule file.
    pub fn kind(&self) -> &'static str {
        match self {
            Detector::ImpossibleTravel(_) => "impossible-travel",
            Detector::IpDrift(_) => "ip-drift",
            Detector::UaDrift(_) => "ua-drift",
            Detector::ConcurrentUse { .. } => "concurrent-use",
            Detector::RevokedUse { .. } => "revoked-use",
            Detector::ExpiredUse { .. } => "expired-use",
            Detector::ForgedToken { .. } => "forged-token",
            Detector::NewPlaceForSubject(_) => "new-place-for-subject",
            Detector::AnonymizerDrift => "anonymizer-drift",
            Detector::RiskLevelChange(_) => "risk-level-change",
        }
    }
}

fn params<T: DeserializeOwned>(raw: &RuleFile, e: &mut impl FnMut(&str, String)) -> Option<T> {
    let v = serde_json::Value::Object(raw.detector.params.clone().into_iter().collect());
    serde_json::from_value(v).map_err(|x| e("detector.params", x.to_string())).ok()
}

fn duration(s: &str, field: &str, e: &mut impl FnMut(&str, String)) -> i64 {
    parse_duration(s).unwrap_or_else(|m| {
        e(field, m);
        0
    })
}

pub(super) fn detector(raw: &RuleFile, e: &mut impl FnMut(&str, String)) -> Option<Detector> {
    let d = match raw.detector.kind.as_str() {
        "impossible-travel" => {
            let p: TravelParams = params(raw, e)?;
            if p.max_speed_kmh.is_nan()
                || p.max_speed_kmh <= 0.0
                || p.min_distance_km.is_nan()
                || p.min_distance_km < 0.0
            {
                e("detector.params", "max_speed_kmh must be > 0 and min_distance_km >= 0".into());
            }
            if !matches!(p.anonymized.as_str(), "skip" | "only" | "judge") {
                e("detector.params.anonymized", format!("{:?} is not skip, only or judge", p.anonymized));
            }
            Detector::ImpossibleTravel(p)
        }
        "ip-drift" => {
            let p: IpDriftParams = params(raw, e)?;
            for a in &p.attributes {
                if !matches!(a.as_str(), "country" | "asn" | "prefix") {
                    e("detector.params.attributes", format!("{a:?} is not country, asn or prefix"));
                }
            }
            if p.prefix_v4 > 32 || p.prefix_v6 > 128 {
                e("detector.params", "prefix_v4 must be <= 32 and prefix_v6 <= 128".into());
            }
            Detector::IpDrift(p)
        }
        "ua-drift" => Detector::UaDrift(params(raw, e)?),
        "concurrent-use" => {
            let p: ConcurrentIn = params(raw, e)?;
            let by = match p.by.as_str() {
                "ip" => Place::Ip,
                "prefix" => Place::Prefix,
                "asn" => Place::Asn,
                o => {
                    e("detector.params.by", format!("{o:?} is not ip, prefix or asn"));
                    Place::Asn
                }
            };
            if !(2..=64).contains(&p.min_distinct) {
                e("detector.params.min_distinct", format!("{} must be between 2 and 64", p.min_distinct));
            }
            let window_secs = duration(&p.window, "detector.params.window", e);
            Detector::ConcurrentUse { min_distinct: p.min_distinct, by, window_secs }
        }
        "revoked-use" => {
            let p: SkewIn = params(raw, e)?;
            let grace_secs = duration(&p.skew, "detector.params.skew", e);
            Detector::RevokedUse { grace_secs, only_accepted: p.only_accepted.unwrap_or(false) }
        }
        "expired-use" => {
            let p: SkewIn = params(raw, e)?;
            if p.only_accepted == Some(false) {
                e("detector.params.only_accepted", "expired-use only judges accepted requests".into());
            }
            Detector::ExpiredUse { skew_secs: duration(&p.skew, "detector.params.skew", e) }
        }
        "forged-token" => {
            let p: ForgedIn = params(raw, e)?;
            let mut verdicts = Vec::new();
            for v in &p.verdicts {
                match Verdict::parse(v) {
                    Some(x) if x.is_forged() => verdicts.push(x),
                    _ => e("detector.params.verdicts", format!("{v:?} is not a failing verdict")),
                }
            }
            let rejected = crate::model::Severity::parse(&p.rejected_level).unwrap_or_else(|| {
                e(
                    "detector.params.rejected_level",
                    format!("{:?} is not one of informational, low, medium, high, critical", p.rejected_level),
                );
                crate::model::Severity::Medium
            });
            Detector::ForgedToken { verdicts, rejected }
        }
        "new-place-for-subject" => {
            let p: NewPlaceIn = params(raw, e)?;
            let mut np = NewPlaceParams {
                country: false,
                network: false,
                client: false,
                min_distance_km: p.min_distance_km,
                learning_secs: duration(&p.learning, "detector.params.learning", e),
                learning_uses: p.learning_uses,
            };
            for a in &p.attributes {
                match a.as_str() {
                    "country" => np.country = true,
                    "network" => np.network = true,
                    "client" => np.client = true,
                    _ => e("detector.params.attributes", format!("{a:?} is not country, network or client")),
                }
            }
            if !(np.country || np.network || np.client) {
                e("detector.params.attributes", "name at least one of country, network, client".into());
            }
            if p.min_distance_km.is_nan() || p.min_distance_km < 0.0 {
                e("detector.params.min_distance_km", "must be >= 0".into());
            }
            Detector::NewPlaceForSubject(np)
        }
        "anonymizer-drift" => {
            let _: std::collections::BTreeMap<String, ()> = params(raw, e)?;
            Detector::AnonymizerDrift
        }
        "risk-level-change" => {
            let p: RiskChangeIn = params(raw, e)?;
            let mut level = |s: &str, field: &str| {
                RiskLevel::parse(s).or_else(|| {
                    e(field, format!("{s:?} is not low, medium or high"));
                    None
                })
            };
            let min_level = level(&p.min_level, "detector.params.min_level").unwrap_or(RiskLevel::Medium);
            let revoke_at = match p.revoke_at.as_deref() {
                None | Some("never") => None,
                Some(s) => level(s, "detector.params.revoke_at"),
            };
            Detector::RiskLevelChange(RiskChangeParams { min_level, revoke_at, subjects: p.subjects })
        }
        other => {
            e(
                "detector.kind",
                format!("{other:?} is not one of impossible-travel, ip-drift, ua-drift, concurrent-use, revoked-use, expired-use, forged-token, new-place-for-subject, anonymizer-drift, risk-level-change"),
            );
            return None;
        }
    };
    Some(d)
}
