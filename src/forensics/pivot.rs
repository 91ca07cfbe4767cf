//! Pivot: other tokens used from the attackers' addresses, prefixes (/24,
//! /48), networks or script clients inside the incident window, scored by
//! the `[investigate]` weights; those reaching the threshold are "likely
//! also compromised". Networks (ASNs) count only when no owner of a stolen
//! token used them (a hosting provider, not a big ISP); user agents only
//! when they are scripts. Addresses and script clients that served many
//! tokens over many days before the window are the baseline (the
//! deployment's own jobs, a corporate egress): named, never counted. polars
//! filters the whole log and groups by token.

use std::collections::BTreeSet;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::incident::{prefix, Incident};
use crate::engine::ua::{classify, UaKind};
use crate::settings::InvestigateSettings;

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
    /// Indicators that are long-standing infrastructure: not counted.
    pub baseline: Vec<Baseline>,
}

/// An address or script client seen with many tokens on many days before the window.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub kind: &'static str,
    pub value: String,
    pub tokens: u32,
    pub days: u32,
}

/// The indicators (of `kind`, column `column`) that served at least the
/// settings' tokens on their days before the window.
fn baseline_of(
    events: &LazyFrame,
    ind: &Indicators,
    column: &str,
    kind: &'static str,
    values: Vec<String>,
    s: &InvestigateSettings,
) -> Result<Vec<Baseline>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let set = lit(Series::new("v".into(), values)).implode(false);
    let day = (col("time") / lit(86_400_000_000i64)).alias("day");
    let df = events
        .clone()
        .filter(
            col("time").lt(lit(ind.window_us.0)).and(col("token_id").is_not_null()).and(col(column).is_in(set, false)),
        )
        .group_by([col(column)])
        .agg([col("token_id").n_unique().alias("tokens"), day.n_unique().alias("days")]);
    let df = super::collect(df)?;
    let v = df.column(column)?.str()?;
    let tokens = df.column("tokens")?.cast(&DataType::UInt32)?;
    let days = df.column("days")?.cast(&DataType::UInt32)?;
    let (tokens, days) = (tokens.u32()?, days.u32()?);
    let mut out: Vec<Baseline> = (0..df.height())
        .filter_map(|i| {
            let (t, d) = (tokens.get(i)?, days.get(i)?);
            let value = v.get(i)?.to_string();
            (t as usize >= s.baseline_min_tokens && d as usize >= s.baseline_min_days).then_some(Baseline {
                kind,
                value,
                tokens: t,
                days: d,
            })
        })
        .collect();
    out.sort_by(|a, b| a.value.cmp(&b.value));
    Ok(out)
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

/// Tokens not among the incidents that match an indicator with a score of
/// at least the threshold, best first; the baseline found on the way is
/// recorded in `ind`.
pub fn pivot(
    events: LazyFrame,
    incidents: &[Incident],
    ind: &mut Indicators,
    s: &InvestigateSettings,
) -> Result<Vec<Suspect>> {
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
    let mut neighbours: Vec<String> = (0..seen.len())
        .filter_map(|i| seen.get(i))
        .filter(|ip| !ind.ips.contains(*ip) && ind.prefixes.contains(&prefix(ip)))
        .map(String::from)
        .collect();
    let addrs = ind.ips.iter().cloned().chain(neighbours.iter().cloned()).collect();
    let mut base = baseline_of(&events, ind, "client_ip", "address", addrs, s)?;
    base.extend(baseline_of(
        &events,
        ind,
        "user_agent",
        "script client",
        ind.user_agents.iter().cloned().collect(),
        s,
    )?);
    let is_base = |kind: &str, v: &str| base.iter().any(|b| b.kind == kind && b.value == v);
    neighbours.retain(|ip| !is_base("address", ip));
    let ip_list: Vec<String> = ind.ips.iter().filter(|ip| !is_base("address", ip)).cloned().collect();
    let ua_list: Vec<String> = ind.user_agents.iter().filter(|ua| !is_base("script client", ua)).cloned().collect();
    ind.baseline = base;
    let set = |name: &str, v: Vec<String>| lit(Series::new(name.into(), v)).implode(false);
    let ips = set("ips", ip_list);
    let uas = set("uas", ua_list);
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
            let w = &s.weights;
            let signals = [
                ("address", ip[i], w.address),
                ("prefix", pre[i], w.prefix),
                ("network", asn[i], w.network),
                ("script client", ua[i], w.script_client),
            ];
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
        .filter(|x: &Suspect| x.score >= s.threshold)
        .collect();
    out.sort_by(|a, b| b.score.cmp(&a.score).then(b.requests.cmp(&a.requests)).then(a.token.cmp(&b.token)));
    Ok(out)
}
