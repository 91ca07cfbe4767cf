//! Root cause: which attributes do the stolen tokens share, against the
//! population of all tokens? For each attribute of a token's first use
//! (client, application version and OS from the user agent, city and hour
//! first seen, first route, gateway node, lifetime), support (share of stolen
//! tokens with the value), share of all tokens, and lift; ranked by
//! support x lift (values shared by at least two stolen tokens and a fifth
//! of them) and said in words. polars computes each token's first use.

use std::collections::{BTreeSet, HashMap};

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::incident::Incident;
use crate::engine::ua::{classify, UaKind};

#[derive(Debug, Clone, Serialize)]
pub struct Hypothesis {
    pub attribute: String,
    pub value: String,
    pub stolen_with: usize,
    pub stolen: usize,
    pub tokens_with: usize,
    pub tokens: usize,
    pub support: f64,
    pub lift: f64,
    pub statement: String,
}

/// The attributes, most specific first (ties rank in this order).
const ATTRS: [&str; 8] = [
    "client and app version",
    "client",
    "app version",
    "first route",
    "gateway",
    "city first seen",
    "hour first seen (UTC)",
    "token lifetime",
];

fn lifetime(secs: Option<i64>) -> String {
    match secs {
        None => "unknown".into(),
        Some(s) if s <= 900 => "15 min or less".into(),
        Some(s) if s <= 3600 => "up to 1 h".into(),
        Some(s) if s <= 8 * 3600 => "up to 8 h".into(),
        Some(s) if s <= 86_400 => "up to 24 h".into(),
        Some(_) => "over 24 h".into(),
    }
}

/// Each token's attribute values, from its first use.
fn first_uses(events: LazyFrame) -> Result<HashMap<String, [String; 8]>> {
    let by_time = |c: &str| col(c).sort_by([col("time")], SortMultipleOptions::default()).first().alias(c);
    let df = events.filter(col("token_id").is_not_null()).group_by([col("token_id")]).agg([
        by_time("client_id"),
        by_time("user_agent"),
        by_time("path"),
        by_time("gateway"),
        by_time("city"),
        col("time").min().alias("first"),
        (col("exp").cast(DataType::Int64) - col("iat").cast(DataType::Int64)).first().alias("lifetime"),
    ]);
    let df = super::collect(df)?;
    let s = |n: &str| -> Result<&StringChunked> { Ok(df.column(n)?.str()?) };
    let (tok, cid, ua, path, gw, city) =
        (s("token_id")?, s("client_id")?, s("user_agent")?, s("path")?, s("gateway")?, s("city")?);
    let first = df.column("first")?.i64()?;
    let life = df.column("lifetime")?.i64()?;
    let mut out = HashMap::with_capacity(df.height());
    for i in 0..df.height() {
        let or = |v: Option<&str>| v.unwrap_or("unknown").to_string();
        let app = ua.get(i).map_or("unknown".to_string(), app_version);
        let client = or(cid.get(i));
        let hour = first.get(i).map_or("unknown".into(), |t| format!("{:02}:00", (t / 3_600_000_000).rem_euclid(24)));
        let vals = [
            format!("{client} {app}"),
            client,
            app,
            or(path.get(i)),
            or(gw.get(i)),
            or(city.get(i)),
            hour,
            lifetime(life.get(i)),
        ];
        out.insert(or(tok.get(i)), vals);
    }
    Ok(out)
}

/// "AcmeMobile/3.2.1 on Android": an app's name/version and OS; a browser's
/// family and OS (its version changes every few weeks).
fn app_version(ua: &str) -> String {
    let c = classify(ua);
    let name = match c.kind {
        UaKind::Browser => c.family,
        _ => ua.split_whitespace().next().unwrap_or(""),
    };
    if c.os.is_empty() {
        name.to_string()
    } else {
        format!("{name} on {}", c.os)
    }
}

/// Hypotheses, best first. Forgeries are not thefts and are left out.
pub fn root_causes(events: LazyFrame, incidents: &[Incident]) -> Result<Vec<Hypothesis>> {
    let stolen: BTreeSet<&str> =
        incidents.iter().filter(|i| i.rules.iter().any(|r| r != "forged-token")).map(|i| i.token.as_str()).collect();
    if stolen.is_empty() {
        return Ok(Vec::new());
    }
    let firsts = first_uses(events)?;
    let total = firsts.len();
    let mut counts: Vec<HashMap<&str, (usize, usize)>> = vec![HashMap::new(); ATTRS.len()];
    for (tok, vals) in &firsts {
        let is_stolen = stolen.contains(tok.as_str());
        for (a, v) in vals.iter().enumerate() {
            let e = counts[a].entry(v.as_str()).or_default();
            e.1 += 1;
            if is_stolen {
                e.0 += 1;
            }
        }
    }
    let n = stolen.len();
    // a value a single stolen token has says nothing about a common cause
    let min_support = 2.max(n.div_ceil(5));
    let mut out = Vec::new();
    for (a, m) in counts.iter().enumerate() {
        for (v, (s, p)) in m {
            if *s < min_support.min(n) || *v == "unknown" {
                continue;
            }
            let support = *s as f64 / n as f64;
            let share = *p as f64 / total as f64;
            let lift = support / share;
            let statement = format!(
                "{s} of {n} stolen tokens were first used with {} {v}, which is {:.1} % of all tokens: lift {lift:.1}",
                ATTRS[a],
                share * 100.0
            );
            out.push((
                a,
                Hypothesis {
                    attribute: ATTRS[a].into(),
                    value: v.to_string(),
                    stolen_with: *s,
                    stolen: n,
                    tokens_with: *p,
                    tokens: total,
                    support,
                    lift,
                    statement,
                },
            ));
        }
    }
    out.sort_by(|(a1, h1), (a2, h2)| {
        (h2.support * h2.lift).total_cmp(&(h1.support * h1.lift)).then(a1.cmp(a2)).then(h1.value.cmp(&h2.value))
    });
    Ok(out.into_iter().map(|(_, h)| h).take(20).collect())
}
