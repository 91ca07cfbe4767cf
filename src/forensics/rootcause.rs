//! Root cause: which attributes do the stolen tokens share, against the
//! population of all tokens? For each value of an attribute of a token's
//! first use (client, application version and OS from the user agent, city
//! and hour first seen, first route, gateway node, lifetime) that a stolen
//! token has: the counts, the lift, a one-sided Fisher exact p-value and
//! its Benjamini-Hochberg q-value over every value tested. Only lift > 1 and
//! q below the setting are hypotheses, ranked by p; a value nested in a more
//! specific one with the same stolen tokens (a client, beside that client's
//! app version) is reported once, at the specific level. The summary says
//! how many were tested and why the rest were dropped. Each token's first
//! use is gathered on the load's one pass ([`super::firstuse`]).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use anyhow::Result;
use serde::Serialize;

use super::firstuse::FirstUses;
use super::incident::Incident;
use super::stats::{benjamini_hochberg, fisher_greater};

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
    /// One-sided Fisher exact p-value (hypergeometric upper tail).
    pub p_value: f64,
    /// Benjamini-Hochberg q-value over every value tested.
    pub q_value: f64,
    pub statement: String,
}

/// The hypotheses and what became of the rest.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RootCauses {
    pub hypotheses: Vec<Hypothesis>,
    /// Attribute values the stolen tokens have, each tested.
    pub tested: usize,
    pub dropped_lift_at_most_1: usize,
    pub dropped_not_significant: usize,
    /// Dropped for a more specific value with the same stolen tokens.
    pub dropped_nested: usize,
    pub q_max: f64,
}

impl RootCauses {
    /// The summary in words.
    pub fn summary(&self) -> String {
        format!(
            "{} attribute values tested (one-sided Fisher exact test against all tokens, Benjamini-Hochberg q < {}): {} {}; dropped {} with lift <= 1, {} not significant, {} nested in a more specific value with the same stolen tokens",
            self.tested,
            self.q_max,
            self.hypotheses.len(),
            if self.hypotheses.len() == 1 { "hypothesis" } else { "hypotheses" },
            self.dropped_lift_at_most_1,
            self.dropped_not_significant,
            self.dropped_nested
        )
    }
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

fn lifetime(secs: Option<i64>) -> &'static str {
    match secs {
        None => "unknown",
        Some(s) if s <= 900 => "15 min or less",
        Some(s) if s <= 3600 => "up to 1 h",
        Some(s) if s <= 8 * 3600 => "up to 8 h",
        Some(s) if s <= 86_400 => "up to 24 h",
        Some(_) => "over 24 h",
    }
}

/// Hypotheses, best first. Forgeries are not thefts and are left out.
pub fn root_causes(firsts: &FirstUses, incidents: &[Incident], q_max: f64) -> Result<RootCauses> {
    let stolen: BTreeSet<&str> =
        incidents.iter().filter(|i| i.rules.iter().any(|r| r != "forged-token")).map(|i| i.token.as_str()).collect();
    let mut out = RootCauses { q_max, ..Default::default() };
    if stolen.is_empty() {
        return Ok(out);
    }
    let total = firsts.len();
    let mut counts: Vec<HashMap<Cow<'_, str>, (usize, usize)>> = vec![HashMap::new(); ATTRS.len()];
    // client and app version by the pair of their ids (the text only for the pairs kept below)
    let mut pairs: HashMap<(u32, u32), (&str, &str, usize, usize)> = HashMap::new();
    let list: Vec<&str> = stolen.iter().copied().collect();
    firsts.each(&list, |is_stolen, v| {
        let p = pairs.entry(v.pair).or_insert((v.client, v.app, 0, 0));
        p.3 += 1;
        p.2 += usize::from(is_stolen);
        let vals = [
            v.client.into(),
            v.app.into(),
            v.route.into(),
            v.gateway.into(),
            v.city.into(),
            v.hour.into(),
            lifetime(v.lifetime).into(),
        ];
        for (a, v) in vals.into_iter().enumerate() {
            let e = counts[a + 1].entry(v).or_default();
            e.1 += 1;
            e.0 += usize::from(is_stolen);
        }
    });
    // the combined values a stolen token has, by their text (as a value is tested)
    let combined: BTreeSet<String> =
        pairs.values().filter(|p| p.2 > 0).map(|(c, a, _, _)| format!("{c} {a}")).collect();
    let mut parts: HashMap<String, (&str, &str)> = HashMap::new();
    for (c, a, s, p) in pairs.into_values() {
        let text = format!("{c} {a}");
        if combined.contains(&text) {
            let e = counts[0].entry(Cow::Owned(text.clone())).or_default();
            (e.0, e.1) = (e.0 + s, e.1 + p);
            parts.insert(text, (c, a));
        }
    }
    let n = stolen.len();
    // every value a stolen token has is a test
    let mut tests: Vec<(usize, &str, usize, usize, f64)> = Vec::new();
    for (a, m) in counts.iter().enumerate() {
        for (v, (s, p)) in m {
            if *s > 0 && v != "unknown" {
                let pv = fisher_greater(*s as u64, n as u64, *p as u64, total as u64);
                tests.push((a, v.as_ref(), *s, *p, pv));
            }
        }
    }
    tests.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    out.tested = tests.len();
    let q = benjamini_hochberg(&tests.iter().map(|t| t.4).collect::<Vec<_>>());
    let lift = |s: usize, p: usize| (s as f64 / n as f64) / (p as f64 / total as f64);
    let mut kept: Vec<(usize, &str, usize, usize, f64, f64)> = Vec::new();
    for (t, q) in tests.iter().zip(q) {
        if lift(t.2, t.3) <= 1.0 {
            out.dropped_lift_at_most_1 += 1;
        } else if q >= q_max {
            out.dropped_not_significant += 1;
        } else {
            kept.push((t.0, t.1, t.2, t.3, t.4, q));
        }
    }
    // a client or an app version with the same stolen tokens as a kept combination of it
    let nested = |a: usize, v: &str, s: usize| {
        (a == 1 || a == 2)
            && kept.iter().any(|k| k.0 == 0 && k.2 == s && parts.get(k.1).is_some_and(|p| [p.0, p.1][a - 1] == v))
    };
    let mut hyps = Vec::new();
    for &(a, v, s, p, pv, q) in &kept {
        if nested(a, v, s) {
            out.dropped_nested += 1;
            continue;
        }
        let share = p as f64 / total as f64;
        let l = lift(s, p);
        let statement = format!(
            "{s} of {n} stolen tokens were first used with {} {v}, which is {:.1} % of all {total} tokens: lift {l:.1}, p = {pv:.2e} (one-sided Fisher exact), q = {q:.2e}",
            ATTRS[a],
            share * 100.0
        );
        hyps.push((
            a,
            Hypothesis {
                attribute: ATTRS[a].into(),
                value: v.to_string(),
                stolen_with: s,
                stolen: n,
                tokens_with: p,
                tokens: total,
                support: s as f64 / n as f64,
                lift: l,
                p_value: pv,
                q_value: q,
                statement,
            },
        ));
    }
    hyps.sort_by(|(a1, h1), (a2, h2)| {
        h1.p_value
            .total_cmp(&h2.p_value)
            .then(h2.lift.total_cmp(&h1.lift))
            .then(a1.cmp(a2))
            .then(h1.value.cmp(&h2.value))
    });
    out.hypotheses = hyps.into_iter().map(|(_, h)| h).collect();
    Ok(out)
}
