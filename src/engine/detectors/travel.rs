//! impossible-travel: two uses of one token whose distance (minus both
//! accuracy radii) over the time between them needs a speed above the limit.

use std::sync::Arc;

use serde_json::json;

use super::{ev, place_name, Hit};
use crate::engine::state::TokenState;
use crate::model::{Apart, Side, Use};
use crate::rules::{Exceptions, TravelParams};

/// Great-circle distance in km.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().min(1.0).asin()
}

pub fn check(p: &TravelParams, exc: &Exceptions, st: &TokenState, cur: &Arc<Use>) -> Option<Hit> {
    let prev = st.last_located()?;
    let (g1, g2) = (prev.geo.as_deref()?, cur.geo.as_deref()?);
    // where an anonymizer exits says nothing of where its user is
    let hidden = g1.hides_place() || g2.hides_place();
    match p.anonymized.as_str() {
        "only" if !hidden => return None,
        "skip" if hidden => return None,
        _ => {}
    }
    let (a, b) = (g1.located()?, g2.located()?);
    if a == b {
        return None;
    }
    let raw = haversine_km(a, b);
    let dist = (raw - g1.radius_km - g2.radius_km).max(0.0);
    if dist <= p.min_distance_km || exc.source(prev) {
        return None;
    }
    let secs = prev.time.secs_until(cur.time).abs();
    let speed = if secs > 0.0 { dist / (secs / 3600.0) } else { f64::INFINITY };
    if speed <= p.max_speed_kmh {
        return None;
    }
    // the owner's end is the one nearer the token's first use (the owner
    // coming back after the attacker's use is the far use's other end)
    let home = st.first.geo.as_deref().and_then(|g| g.located());
    let back_home = home.is_some_and(|h| haversine_km(h, b) < haversine_km(h, a));
    let far = Side::Other(Apart::PLACE);
    let (prev_side, cur_side) = if back_home { (far, Side::Owner) } else { (Side::Owner, far) };
    let speed_txt = if speed.is_finite() { format!("{speed:.0} km/h") } else { "simultaneous".into() };
    let via: Vec<&str> = crate::model::anon::names(g1.anonymizer | g2.anonymizer);
    let lead = if hidden { format!("through an anonymizer ({}): ", via.join(", ")) } else { String::new() };
    let mut details = super::details(json!({
        "distance_km": (dist * 10.0).round() / 10.0,
        "raw_distance_km": (raw * 10.0).round() / 10.0,
        "seconds_between": secs,
        "speed_kmh": if speed.is_finite() { json!((speed * 10.0).round() / 10.0) } else { json!(null) },
        "max_speed_kmh": p.max_speed_kmh,
    }));
    if hidden {
        details.insert("anonymizer".into(), json!(via));
    }
    Some(Hit {
        message: format!(
            "{lead}token used from {} then {} {} later: {:.0} km apart (after accuracy radii), {}",
            place_name(prev),
            place_name(cur),
            super::human_secs(secs),
            dist,
            speed_txt
        ),
        evidence: vec![ev("previous use", prev_side, &st.last_located_arc()?), ev("this use", cur_side, cur)],
        details,
        confidence: if speed > 5.0 * p.max_speed_kmh { 3 } else { 2 },
        severity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::haversine_km;

    #[test]
    fn known_distances() {
        let london = (51.5142, -0.0931);
        let ny = (40.7128, -74.006);
        let d = haversine_km(london, ny);
        assert!((d - 5570.0).abs() < 20.0, "{d}");
        assert_eq!(haversine_km(london, london), 0.0);
    }
}
