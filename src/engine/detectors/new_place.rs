//! new-place-for-subject: a token's first use comes from a country, a
//! network or a client its (vouched) subject has not used inside the
//! baseline window, once the subject's history is long enough to know its
//! normal. The live catch of a token stolen at issuance and used only by the
//! thief, which no per-token rule can see. A new network near a city the
//! subject uses is not new (a hotel wifi, a new mobile carrier).

use std::sync::Arc;

use serde_json::json;

use super::{haversine_km, other, place_name, Hit};
use crate::engine::subjects::{client_key, country_key, country_name, network_key, Subject};
use crate::model::{Apart, Use};
use crate::rules::NewPlaceParams;

/// A key of the reported list (countries and networks apart).
pub fn tag(k: u64) -> u64 {
    k ^ 0x5a5a_0000_0000_0000
}

pub fn check(p: &NewPlaceParams, s: &Subject, ctx: &super::Ctx<'_>, cur: &Arc<Use>) -> Option<Hit> {
    let (window, t) = (ctx.window_secs, cur.time.as_secs());
    // an exit that hides the place says nothing of where the user is
    if cur.hides_place() {
        return None;
    }
    if s.uses < p.learning_uses || t.saturating_sub(s.first) < p.learning_secs {
        return None;
    }
    let here = cur.geo.as_deref().and_then(|g| g.located().map(|at| (at, g.radius_km)));
    let mut new = Vec::new();
    if p.country && !s.countries.is_empty() {
        if let Some(k) = country_key(cur) {
            if !Subject::knows(&s.countries, k, t, window) && !Subject::live(&s.countries, t, window).is_empty() {
                new.push("country");
            }
        }
    }
    if p.network {
        if let Some(k) = network_key(cur) {
            let near_known_city = here.is_some_and(|(at, r)| {
                Subject::live(&s.cities, t, window).iter().any(|c| {
                    c.at().is_some_and(|(la, lo)| haversine_km(at, (la as f64, lo as f64)) - r <= p.min_distance_km)
                })
            });
            if !near_known_city
                && !Subject::knows(&s.networks, k, t, window)
                && !Subject::live(&s.networks, t, window).is_empty()
            {
                new.push("network");
            }
        }
    }
    let new_client = client_key(cur)
        .is_some_and(|k| !Subject::knows(&s.clients, k, t, window) && !Subject::live(&s.clients, t, window).is_empty());
    if p.client && new_client {
        new.push("client");
    }
    if new.is_empty() {
        return None;
    }
    // reported already (another token from the same new place): one alert
    let keys: Vec<u64> =
        [country_key(cur).filter(|_| new.contains(&"country")), network_key(cur).filter(|_| new.contains(&"network"))]
            .into_iter()
            .flatten()
            .collect();
    if !keys.is_empty() && keys.iter().all(|k| Subject::knows(&s.reported, tag(*k), t, window)) {
        // reported already: no second alert, but nothing of this token is
        // learned (a thief's next stolen token must not become the normal)
        ctx.taint.set(true);
        return None;
    }
    if new_client && !new.contains(&"client") {
        new.push("client");
    }
    let known: Vec<String> = Subject::live(&s.countries, t, window)
        .iter()
        .map(|c| format!("{} ({:.0})", country_name(c.key), c.weight.max(1.0)))
        .collect();
    // the subject seen somewhere else recently: could it have travelled?
    let travel = match (s.last_located, here) {
        (Some((lt, la, lo)), Some((at, r))) => {
            let km = (haversine_km(at, (la as f64, lo as f64)) - r).max(0.0);
            let hours = ((t - lt).max(0) as f64 / 3600.0).max(1.0 / 60.0);
            Some((km, km / hours))
        }
        _ => None,
    };
    let infeasible = travel.is_some_and(|(km, kmh)| km > 500.0 && kmh > 1000.0);
    let days = window / 86_400;
    // the thief's uses of this token are set apart by what is new
    let apart = new.iter().fold(Apart::default(), |a, n| {
        a.or(match *n {
            "country" => Apart::PLACE,
            "network" => Apart::NETWORK,
            _ => Apart::CLIENT,
        })
    });
    Some(Hit {
        message: format!(
            "first use of a token of this subject from {} ({} new in {days}d; the subject's countries: {})",
            place_name(cur),
            new.join(", "),
            if known.is_empty() { "none located".into() } else { known.join(", ") }
        ),
        evidence: vec![other("this use", apart, cur)],
        details: super::details(json!({
            "new": new,
            "subject_uses": s.uses,
            "subject_since": crate::model::EventTime::from_secs(s.first).to_rfc3339(),
            "known_countries": Subject::live(&s.countries, t, window).iter().map(|c| country_name(c.key)).collect::<Vec<_>>(),
            "km_from_last_use": travel.map(|(km, _)| (km * 10.0).round() / 10.0),
            "speed_from_last_use_kmh": travel.map(|(_, v)| (v * 10.0).round() / 10.0),
        })),
        confidence: if infeasible || new.len() > 1 { 3 } else { 2 },
        severity: None,
    })
}
