//! Pivot: other tokens used from the attackers' addresses, prefixes (/24,
//! /48), networks or
//! script clients inside the incident window, ranked as "likely also
//! compromised". Networks (ASNs) count only when no owner of a stolen token
//! used them (a hosting provider, not a big ISP); user agents only when they
//! are scripts. polars filters the whole log and groups by token.

use std::collections::BTreeSet;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::incident::{prefix, Incident};
use crate::engine::ua::{classify, UaKind};

#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    pub token: String,
    pub sub: Option<String>,
    pub requests: u32,
    pub matched: Vec<String>,
    pub score: u32,
}

/// The indicators the incidents share with the rest of the log.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Indicators {
    pub ips: BTreeSet<String>,
    pub prefixes: BTreeSet<String>,
    pub asns: BTreeSet<u32>,
    pub user_agents: BTreeSet<String>,
    pub window_us: (i64, i64),
}

pub fn indicators(incidents: &[Incident], margin_us: i64) -> Indicators {
    let mut ind = Indicators { window_us: (i64::MAX, i64::MIN), ..Default::default() };
    let mut owner_asns = BTreeSet::new();
    for inc in incidents {
        for u in &inc.timeline {
            if !u.attacker {
                owner_asns.extend(u.asn);
                continue;
            }
            ind.window_us.0 = ind.window_us.0.min(u.time_us - margin_us);
            ind.window_us.1 = ind.window_us.1.max(u.time_us + margin_us);
            if let Some(ip) = &u.ip {
                ind.ips.insert(ip.clone());
                ind.prefixes.insert(prefix(ip));
            }
            ind.asns.extend(u.asn);
            if let Some(ua) = &u.user_agent {
                if classify(ua).kind == UaKind::Script {
                    ind.user_agents.insert(ua.clone());
                }
            }
        }
    }
    ind.asns.retain(|a| !owner_asns.contains(a));
    ind
}

/// Tokens not among the incidents that match an indicator, best first.
pub fn pivot(events: LazyFrame, incidents: &[Incident], ind: &Indicators) -> Result<Vec<Suspect>> {
    if ind.window_us.0 > ind.window_us.1 {
        return Ok(Vec::new());
    }
    let known = Series::new("known".into(), incidents.iter().map(|i| i.token.clone()).collect::<Vec<_>>());
    let in_window = col("time").gt_eq(lit(ind.window_us.0)).and(col("time").lt_eq(lit(ind.window_us.1)));
    // addresses in the attackers' prefixes (other than their own addresses)
    let seen =
        events.clone().filter(in_window.clone()).select([col("client_ip")]).unique(None, UniqueKeepStrategy::Any);
    let seen = super::collect(seen)?;
    let seen = seen.column("client_ip")?.str()?;
    let neighbours: Vec<String> = (0..seen.len())
        .filter_map(|i| seen.get(i))
        .filter(|ip| !ind.ips.contains(*ip) && ind.prefixes.contains(&prefix(ip)))
        .map(String::from)
        .collect();
    let set = |name: &str, v: Vec<String>| lit(Series::new(name.into(), v)).implode(false);
    let ips = set("ips", ind.ips.iter().cloned().collect());
    let uas = set("uas", ind.user_agents.iter().cloned().collect());
    let asns = lit(Series::new("asns".into(), ind.asns.iter().copied().collect::<Vec<u32>>())).implode(false);
    let hit_ip = col("client_ip").is_in(ips, false).fill_null(lit(false));
    let hit_asn = col("asn").is_in(asns, false).fill_null(lit(false));
    let hit_ua = col("user_agent").is_in(uas, false).fill_null(lit(false));
    let hit_prefix = col("client_ip").is_in(set("prefix", neighbours), false).fill_null(lit(false));
    let df = events
        .filter(
            in_window
                .and(col("token_id").is_not_null())
                .and(col("token_id").is_in(lit(known).implode(false), false).not()),
        )
        .with_columns([
            hit_ip.alias("hit_ip"),
            hit_prefix.alias("hit_prefix"),
            hit_asn.alias("hit_asn"),
            hit_ua.alias("hit_ua"),
        ])
        .filter(col("hit_ip").or(col("hit_prefix")).or(col("hit_asn")).or(col("hit_ua")))
        .group_by([col("token_id")])
        .agg([
            // a subject only on the word of a vouched token (a password
            // reset may follow): never the claim of an unverified one
            col("sub").filter(col("vouched").fill_null(lit(false))).first().alias("sub"),
            len().alias("requests"),
            col("hit_ip").sum().alias("ip_hits"),
            col("hit_prefix").sum().alias("prefix_hits"),
            col("hit_asn").sum().alias("asn_hits"),
            col("hit_ua").sum().alias("ua_hits"),
        ]);
    let df = super::collect(df)?;
    let tok = df.column("token_id")?.str()?;
    let sub = df.column("sub")?.str()?;
    let n = df.column("requests")?.cast(&DataType::UInt32)?;
    let n = n.u32()?;
    let hits = |c: &str| -> Result<Vec<u32>> {
        let s = df.column(c)?.cast(&DataType::UInt32)?;
        let c = s.u32()?;
        Ok((0..c.len()).map(|i| c.get(i).unwrap_or(0)).collect())
    };
    let (ip, pre, asn, ua) = (hits("ip_hits")?, hits("prefix_hits")?, hits("asn_hits")?, hits("ua_hits")?);
    let mut out: Vec<Suspect> = (0..df.height())
        .map(|i| {
            let mut matched = Vec::new();
            let mut score = 0;
            let signals =
                [("address", ip[i], 3), ("prefix", pre[i], 2), ("network", asn[i], 2), ("script client", ua[i], 1)];
            for (name, count, weight) in signals {
                if count > 0 {
                    matched.push(format!("{name} ({count} requests)"));
                    score += weight;
                }
            }
            Suspect {
                token: tok.get(i).unwrap_or("").to_string(),
                sub: sub.get(i).map(String::from),
                requests: n.get(i).unwrap_or(0),
                matched,
                score,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.cmp(&a.score).then(b.requests.cmp(&a.requests)).then(a.token.cmp(&b.token)));
    Ok(out)
}
