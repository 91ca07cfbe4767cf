//! Per stolen token: the timeline split into the owner's phase and the
//! suspicious one, the attacker's infrastructure, and the blast radius after
//! the first suspicious use. polars selects the tokens' events out of the
//! whole log (lazy scan, filter, sort); the split runs over that small frame.
//!
//! Attribution is the engine's: the sides its findings' evidence names
//! (see [`super::attribution`]); this file has no rule of its own.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::attribution::{attribute, Named};
use crate::model::RevocationView;
use crate::model::{Finding, Side};

/// One request in a timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Use {
    pub time_us: i64,
    pub ip: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub user_agent: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u32,
    pub bytes: Option<u64>,
    pub attacker: bool,
    pub after_revocation: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct BlastRadius {
    pub requests: usize,
    pub bytes: u64,
    pub routes: BTreeMap<String, usize>,
    pub statuses: BTreeMap<u32, usize>,
    pub distinct_resources: usize,
    /// Requests accepted (status < 400) after the token was revoked.
    pub accepted_after_revocation: usize,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Infrastructure {
    pub ips: BTreeSet<String>,
    pub prefixes: BTreeSet<String>,
    pub asns: BTreeMap<u32, String>,
    pub countries: BTreeSet<String>,
    pub user_agents: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub token: String,
    pub sub: Option<String>,
    pub client_id: Option<String>,
    pub rules: BTreeSet<String>,
    pub findings: Vec<String>,
    pub first_finding_us: i64,
    /// The first request attributed to the attacker.
    pub first_suspicious_us: Option<i64>,
    pub infrastructure: Infrastructure,
    pub blast_radius: BlastRadius,
    pub timeline: Vec<Use>,
}

/// The network prefix of an address: /24 for IPv4, /48 for IPv6.
pub fn prefix(ip: &str) -> String {
    crate::model::prefix_name(ip, 24, 48)
}

/// What an incident starts from: a finding of the engine, or an alert of a
/// `replay` / `stream` alerts file.
#[derive(Debug, Clone)]
pub struct Lead {
    pub token: String,
    pub rule: String,
    pub time_us: i64,
    pub uid: String,
    pub sub: Option<String>,
    pub client_id: Option<String>,
    pub revoked_at_us: Option<i64>,
    /// The uses the finding's evidence names, with their sides.
    pub evidence: Vec<Named>,
}

impl Lead {
    pub fn from_finding(f: &Finding, revs: &RevocationView) -> Lead {
        let revoked_at_us = revs.check(&f.token, crate::model::EventTime::MAX).map(|r| match r {
            crate::model::Revoked::Token { at } => at.0,
            crate::model::Revoked::Subject { before } => before.0,
        });
        Lead {
            token: f.token.id.display_id(),
            rule: f.rule_id.to_string(),
            time_us: f.time.0,
            uid: f.uid.clone(),
            // only a subject whose word counts may be told to reset a password
            sub: f.token.trusted_sub().map(String::from),
            client_id: f.token.client_id.as_deref().map(String::from),
            revoked_at_us,
            evidence: f
                .evidence
                .iter()
                .map(|e| Named {
                    side: e.side,
                    time_us: e.used.time.0,
                    precision_us: 1,
                    ip: e.used.ip.map(|i| i.to_string()),
                })
                .collect(),
        }
    }

    /// From an OCSF alert line (`actor.session.uid`, `finding_info`, `time` in ms).
    pub fn from_alert(v: &serde_json::Value) -> Option<Lead> {
        let s = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str).map(String::from);
        Some(Lead {
            token: s("/actor/session/uid")?,
            rule: s("/finding_info/analytic/uid")?,
            time_us: v.get("time")?.as_i64()? * 1000,
            uid: s("/finding_info/uid")?,
            sub: s("/actor/user/uid")
                .filter(|_| v.pointer("/unmapped/tokenhound/token_vouched") == Some(&serde_json::Value::Bool(true))),
            client_id: None,
            revoked_at_us: None,
            evidence: alert_evidence(v),
        })
    }
}

/// The uses an alert names. Alerts do not carry the engine's sides: an alert
/// the engine did not find again on these events (the caller prefers the
/// engine's finding of the same uid) names the attacker's uses by role, and
/// marks nothing beyond them: its first or previous use is the owner's,
/// every other use it names the other side's.
fn alert_evidence(v: &serde_json::Value) -> Vec<Named> {
    let Some(list) = v.get("evidences").and_then(serde_json::Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let side = match e.get("name")?.as_str()? {
                "first use" | "previous use" => Side::Owner,
                _ => Side::Other(crate::model::Apart::default()),
            };
            Some(Named {
                side,
                time_us: e.pointer("/data/time")?.as_i64()? * 1000,
                precision_us: 1000,
                ip: e.pointer("/src_endpoint/ip").and_then(serde_json::Value::as_str).map(String::from),
            })
        })
        .collect()
}

/// The incidents of the leads' tokens (forged tokens included: a forgery
/// is an incident too, its "owner" is the forger).
pub fn incidents(events: LazyFrame, leads: &[Lead]) -> Result<Vec<Incident>> {
    let mut by_token: BTreeMap<String, (Vec<&Lead>, i64)> = BTreeMap::new();
    for f in leads {
        let e = by_token.entry(f.token.clone()).or_insert((Vec::new(), i64::MAX));
        e.0.push(f);
        e.1 = e.1.min(f.time_us);
    }
    if by_token.is_empty() {
        return Ok(Vec::new());
    }
    let ids = Series::new("ids".into(), by_token.keys().cloned().collect::<Vec<_>>());
    // only the columns a timeline shows (a frame of the tokens' events, not of the log)
    let df = events
        .select(Rows::COLUMNS.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .filter(col("token_id").is_in(lit(ids).implode(false), false))
        .sort(["token_id", "time"], SortMultipleOptions::default());
    let df = super::collect(df)?;
    let rows = Rows::new(&df)?;
    let mut out = Vec::new();
    let mut start = 0;
    while start < df.height() {
        let tok = rows.token(start).to_string();
        let mut end = start;
        while end < df.height() && rows.token(end) == tok {
            end += 1;
        }
        if let Some((fs, first)) = by_token.get(&tok) {
            out.push(one(&rows, start..end, &tok, fs, *first));
        }
        start = end;
    }
    out.sort_by_key(|i| i.first_suspicious_us.unwrap_or(i.first_finding_us));
    Ok(out)
}

fn one(rows: &Rows<'_>, range: std::ops::Range<usize>, tok: &str, fs: &[&Lead], first: i64) -> Incident {
    let f0 = fs[0];
    let revoked_at = fs.iter().filter_map(|f| f.revoked_at_us).min();
    let mut inc = Incident {
        token: tok.to_string(),
        sub: f0.sub.clone(),
        client_id: f0.client_id.clone(),
        rules: fs.iter().map(|f| f.rule.clone()).collect(),
        findings: fs.iter().map(|f| f.uid.clone()).collect(),
        first_finding_us: first,
        first_suspicious_us: None,
        infrastructure: Infrastructure::default(),
        blast_radius: BlastRadius::default(),
        timeline: Vec::new(),
    };
    let mut resources = BTreeSet::new();
    let mut timeline: Vec<Use> = range.map(|i| rows.use_at(i, false, revoked_at)).collect();
    let named: Vec<Named> = fs.iter().flat_map(|f| f.evidence.iter().cloned()).collect();
    let sides = attribute(&timeline, &named);
    for (u, attacker) in timeline.iter_mut().zip(sides) {
        u.attacker = attacker;
    }
    for u in timeline {
        if u.attacker {
            inc.first_suspicious_us.get_or_insert(u.time_us);
            let b = &mut inc.blast_radius;
            b.requests += 1;
            b.bytes += u.bytes.unwrap_or(0);
            *b.routes.entry(format!("{} {}", u.method, u.path)).or_default() += 1;
            *b.statuses.entry(u.status).or_default() += 1;
            resources.insert(u.path.clone());
            let infra = &mut inc.infrastructure;
            if let Some(ip) = &u.ip {
                infra.ips.insert(ip.clone());
                infra.prefixes.insert(prefix(ip));
            }
            if let Some(a) = u.asn {
                infra.asns.insert(a, u.as_org.clone().unwrap_or_default());
            }
            infra.countries.extend(u.country.clone());
            infra.user_agents.extend(u.user_agent.clone());
        }
        if u.after_revocation && u.status < 400 {
            inc.blast_radius.accepted_after_revocation += 1;
        }
        inc.timeline.push(u);
    }
    inc.blast_radius.distinct_resources = resources.len();
    inc
}

/// Typed access to the columns of a normalized frame.
pub struct Rows<'a> {
    pub token_id: &'a StringChunked,
    pub time: &'a Int64Chunked,
    pub ip: &'a StringChunked,
    pub ua: &'a StringChunked,
    pub method: &'a StringChunked,
    pub path: &'a StringChunked,
    pub status: &'a UInt32Chunked,
    pub bytes: &'a UInt64Chunked,
    pub asn: &'a UInt32Chunked,
    pub org: &'a StringChunked,
    pub country: &'a StringChunked,
    pub city: &'a StringChunked,
    pub lat: &'a Float64Chunked,
    pub lon: &'a Float64Chunked,
}

impl<'a> Rows<'a> {
    /// The columns read.
    pub const COLUMNS: [&'static str; 14] = [
        "token_id",
        "time",
        "client_ip",
        "user_agent",
        "method",
        "path",
        "status",
        "bytes",
        "asn",
        "as_org",
        "country",
        "city",
        "lat",
        "lon",
    ];

    pub fn new(df: &'a DataFrame) -> Result<Self> {
        let s = |n: &str| -> Result<&'a StringChunked> { Ok(df.column(n)?.str()?) };
        Ok(Rows {
            token_id: s("token_id")?,
            time: df.column("time")?.i64()?,
            ip: s("client_ip")?,
            ua: s("user_agent")?,
            method: s("method")?,
            path: s("path")?,
            status: df.column("status")?.u32()?,
            bytes: df.column("bytes")?.u64()?,
            asn: df.column("asn")?.u32()?,
            org: s("as_org")?,
            country: s("country")?,
            city: s("city")?,
            lat: df.column("lat")?.f64()?,
            lon: df.column("lon")?.f64()?,
        })
    }

    fn token(&self, i: usize) -> &str {
        self.token_id.get(i).unwrap_or("")
    }

    fn use_at(&self, i: usize, attacker: bool, revoked_at: Option<i64>) -> Use {
        let s = |c: &StringChunked| c.get(i).map(String::from);
        let t = self.time.get(i).unwrap_or(0);
        Use {
            time_us: t,
            ip: s(self.ip),
            asn: self.asn.get(i),
            as_org: s(self.org),
            country: s(self.country),
            city: s(self.city),
            lat: self.lat.get(i),
            lon: self.lon.get(i),
            user_agent: s(self.ua),
            method: self.method.get(i).unwrap_or("").to_string(),
            path: self.path.get(i).unwrap_or("").to_string(),
            status: self.status.get(i).unwrap_or(0),
            bytes: self.bytes.get(i),
            attacker,
            after_revocation: revoked_at.is_some_and(|r| t > r),
        }
    }
}
