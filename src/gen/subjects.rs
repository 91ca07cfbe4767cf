//! `gen --story subjects`: weeks of users with a home (city, network,
//! client), every session a new token, so per-subject baselines learn; after
//! the learning period, the cases a subject baseline must tell apart:
//! tokens stolen at issuance and used only by a thief abroad (the victim
//! never uses them: no per-token rule can see it), benign travellers who go
//! abroad once, commuters between two cities of one country, and users who
//! add a new phone on their home network. Ground truth: one JSON line per
//! planted theft and per benign story.

use std::net::IpAddr;
use std::rc::Rc;

use serde_json::json;

use super::clients::CLIENTS;
use super::session::Generator;
use super::world::host;
use super::{GenEvent, TokenMode};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// Home cities with a commute city in the same country.
const COMMUTES: &[(&str, &str)] = &[("Berlin", "Frankfurt"), ("London", "Manchester"), ("New York", "Chicago")];

/// The events (sorted) and the ground truth of the story.
pub fn story(seed: u64, users: u64, days: u64, mode: TokenMode, start: i64) -> (Vec<GenEvent>, Vec<serde_json::Value>) {
    let mut g = Generator::new(seed, users.max(20), mode);
    let (mut out, mut truth) = (Vec::new(), Vec::new());
    let days = days.max(10) as i64;
    let after = 9.min(days - 1); // the day the stories start (after a week of learning)
    for u in 0..g.users.len() {
        let role = u % 20;
        let (sub, mut home, isp, client) = {
            let x = &g.users[u];
            (x.sub.clone(), x.city.clone(), x.isp, x.client)
        };
        if role == 2 {
            home = COMMUTES[u / 20 % COMMUTES.len()].0.to_string();
        }
        let commute = COMMUTES.iter().find(|c| c.0 == home).map(|c| c.1);
        let (trip_day, trip_len) = (after + g.rng.below(3) as i64, 2 + g.rng.below(2) as i64);
        let abroad = other_country(&mut g, &home);
        let phone = (client + 3) % CLIENTS.len();
        for d in 0..days {
            let travelling = role == 1 && (trip_day..trip_day + trip_len).contains(&d);
            for s in 0..1 + g.rng.below(2) {
                let t0 = start + d * DAY + (7 + 7 * s as i64) * HOUR + g.rng.range(0, 5 * HOUR);
                let (city, kind) = if travelling {
                    (abroad.clone(), "mobile")
                } else if role == 2 && d % 2 == 1 && commute.is_some() {
                    (commute.unwrap_or(&home).to_string(), "residential")
                } else {
                    (home.clone(), if s == 1 { "mobile" } else { "residential" })
                };
                let ci = if role == 3 && d >= after && s == 1 { phone } else { client };
                let net = g.world.city_net(&city, kind, isp).clone();
                let first = session(&mut g, &sub, ci, &net, t0, false, &mut out);
                if travelling && d == trip_day && s == 0 {
                    truth.push(json!({"kind": "benign-trip", "sub": sub, "token": first, "city": city}));
                }
            }
        }
        match role {
            2 if commute.is_some() => truth.push(json!({"kind": "benign-commuter", "sub": sub})),
            3 => truth.push(json!({"kind": "benign-new-phone", "sub": sub})),
            0 => {
                // stolen at issuance: only the thief ever uses it
                let t0 = start + (after + g.rng.below(3) as i64) * DAY + g.rng.range(0, 20 * HOUR);
                let net = g.world.hosting(&abroad, 64900).clone();
                let jti = session(&mut g, &sub, client, &net, t0, true, &mut out);
                let ip = out.last().map(|e| e.ip.to_string()).unwrap_or_default();
                truth.push(json!({
                    "kind": "issuance-theft", "expected_rules": ["new-place-for-subject"], "token": jti,
                    "sub": sub, "victim_city": home, "attacker_city": abroad, "attacker_ips": [ip],
                    "first_attack": crate::model::EventTime(t0).to_rfc3339(),
                }));
            }
            _ => {}
        }
    }
    out.sort();
    (out, truth)
}

/// A city in another country than `home`'s.
fn other_country(g: &mut Generator, home: &str) -> String {
    let cc = g.world.country_of(home).to_string();
    let others: Vec<String> = g.world.cities.iter().filter(|c| g.world.country_of(c) != cc).cloned().collect();
    g.rng.pick(&others).clone()
}

/// One session of a new token on one network; returns the token's `iss|jti`.
fn session(
    g: &mut Generator,
    sub: &str,
    client: usize,
    net: &super::world::Net,
    t0: i64,
    attack: bool,
    out: &mut Vec<GenEvent>,
) -> String {
    let c = &CLIENTS[client].1;
    let ua: Rc<str> = c.ua.into();
    let tok = g.token(sub, c.id, t0 / 1_000_000 - 5, None);
    let n = 3 + g.rng.below(10);
    let ip: IpAddr = host(net, &mut g.rng);
    for i in 0..n {
        let t = t0 + i as i64 * g.rng.range(30_000_000, 240_000_000);
        let ev = g.event(t, ip, &ua, &tok, attack);
        out.push(ev);
    }
    format!("{}|{}", super::ISSUER, tok.jti)
}
