//! Who made each request of a stolen token, on the engine's word only. Every
//! finding's evidence names uses and their side ([`Side`]): the owner's, or
//! the other side's with what sets it apart (place, network, client, or the
//! token itself from that use on). A use the evidence names as the other
//! side is the attacker's, and so is every later use of the token sharing
//! the place, the network prefix (/24, /48) or the client of such a use, by
//! the marks the detector gave. Nothing else is: forensics has no rule of
//! its own (a network switch the engine let pass stays the owner's).

use std::collections::HashSet;

use crate::model::{Apart, Side};

use super::incident::{prefix, Use};

/// A use named by a finding's evidence, to find in the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub side: Side,
    pub time_us: i64,
    /// 1 for the engine's own findings; 1000 for an alert (times in ms).
    pub precision_us: i64,
    pub ip: Option<String>,
}

impl Named {
    fn is(&self, u: &Use) -> bool {
        let p = self.precision_us.max(1);
        u.time_us.div_euclid(p) == self.time_us.div_euclid(p) && u.ip == self.ip
    }
}

/// Where a use was: its city (or its coordinates, when the database names
/// no city) and country.
fn place(u: &Use) -> Option<String> {
    match (&u.city, u.lat, u.lon) {
        (Some(c), _, _) => Some(format!("{c}|{}", u.country.as_deref().unwrap_or(""))),
        (None, Some(la), Some(lo)) => Some(format!("{la:.2},{lo:.2}|{}", u.country.as_deref().unwrap_or(""))),
        _ => None,
    }
}

/// The other side's marks, each with the time it holds from.
#[derive(Default)]
struct Marks {
    places: Vec<(String, i64)>,
    prefixes: Vec<(String, i64)>,
    clients: Vec<(String, i64)>,
    from: Option<i64>,
}

impl Marks {
    fn add(&mut self, u: &Use, a: Apart) {
        let t = u.time_us;
        if a.place {
            self.places.extend(place(u).map(|p| (p, t)));
        }
        if a.network {
            self.prefixes.extend(u.ip.as_deref().map(|ip| (prefix(ip), t)));
        }
        if a.client {
            self.clients.extend(u.user_agent.clone().map(|c| (c, t)));
        }
        if let Some(s) = a.since {
            self.from = Some(self.from.map_or(s.0, |f| f.min(s.0)));
        }
    }

    fn hit(&self, u: &Use) -> bool {
        let t = u.time_us;
        let any = |v: &[(String, i64)], x: Option<String>| x.is_some_and(|x| v.iter().any(|(m, s)| *s <= t && *m == x));
        self.from.is_some_and(|f| f <= t)
            || any(&self.places, place(u))
            || any(&self.prefixes, u.ip.as_deref().map(prefix))
            || any(&self.clients, u.user_agent.clone())
    }
}

/// For each use of the timeline (one token's, in time order), whether it is
/// the attacker's.
pub fn attribute(timeline: &[Use], named: &[Named]) -> Vec<bool> {
    let mut marks = Marks::default();
    let mut owner = HashSet::new();
    let mut other = HashSet::new();
    for n in named {
        for (i, u) in timeline.iter().enumerate().filter(|(_, u)| n.is(u)) {
            match n.side {
                Side::Owner => {
                    owner.insert(i);
                }
                Side::Other(a) => {
                    other.insert(i);
                    marks.add(u, a);
                }
            }
        }
    }
    timeline.iter().enumerate().map(|(i, u)| other.contains(&i) || (!owner.contains(&i) && marks.hit(u))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FF: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

    fn at(t: i64, ip: &str, city: &str, ua: &str) -> Use {
        Use {
            time_us: t,
            ip: Some(ip.into()),
            asn: None,
            as_org: None,
            country: Some("XX".into()),
            city: Some(city.into()),
            lat: Some(1.0),
            lon: Some(2.0),
            user_agent: Some(ua.into()),
            method: "GET".into(),
            path: format!("/r/{t}"),
            status: 200,
            bytes: Some(10),
            attacker: false,
            after_revocation: false,
        }
    }

    fn named(u: &Use, side: Side) -> Named {
        Named { side, time_us: u.time_us, precision_us: 1, ip: u.ip.clone() }
    }

    /// The owner in London on one network; the attacker with the owner's own
    /// browser from Frankfurt; the owner comes back.
    fn timeline() -> Vec<Use> {
        vec![
            at(1, "81.2.69.142", "London", FF),
            at(2, "81.2.69.143", "London", FF),
            at(3, "198.51.100.7", "Frankfurt", FF),
            at(4, "198.51.100.9", "Frankfurt", FF),
            at(5, "81.2.69.142", "London", FF),
            at(6, "203.0.113.5", "Frankfurt", FF),
            at(7, "81.2.70.1", "London", "curl/8.4.0"),
        ]
    }

    #[test]
    fn the_far_place_and_every_later_use_from_it_with_the_victim_s_own_browser() {
        // impossible-travel: previous use the owner's, this use the far place
        let t = timeline();
        let n = [named(&t[1], Side::Owner), named(&t[2], Side::Other(Apart::PLACE))];
        assert_eq!(attribute(&t, &n), [false, false, true, true, false, true, false]);
    }

    #[test]
    fn a_new_network_marks_its_prefix_not_its_city() {
        // ip-drift / concurrent-use by network: the /24 follows, Frankfurt's other networks do not
        let t = timeline();
        let n = [named(&t[0], Side::Owner), named(&t[2], Side::Other(Apart::NETWORK))];
        assert_eq!(attribute(&t, &n), [false, false, true, true, false, false, false]);
    }

    #[test]
    fn a_new_client_marks_that_client_only() {
        // ua-drift: the script client, not its network or city
        let mut t = timeline();
        t.push(at(8, "81.2.69.142", "London", "curl/8.4.0"));
        let n = [named(&t[0], Side::Owner), named(&t[6], Side::Other(Apart::CLIENT))];
        assert_eq!(attribute(&t, &n), [false, false, false, false, false, false, true, true]);
    }

    #[test]
    fn after_revocation_expiry_or_forgery_every_later_use() {
        let t = timeline();
        // the use named, and every use from the time the engine names (a revocation at 4)
        let n = [named(&t[5], Side::Other(Apart::since(crate::model::EventTime(4))))];
        assert_eq!(attribute(&t, &n), [false, false, false, true, true, true, true]);
    }

    #[test]
    fn no_other_side_no_attacker_and_owner_named_uses_stay_the_owner_s() {
        let t = timeline();
        // a same-city network switch the engine let pass: no finding, nobody accused
        assert_eq!(attribute(&t, &[]), [false; 7]);
        // concurrent-use: the owner's place named, a later owner use in the far city stays theirs
        let n = [named(&t[3], Side::Other(Apart::PLACE)), named(&t[5], Side::Owner)];
        assert_eq!(attribute(&t, &n), [false, false, false, true, false, false, false]);
    }

    #[test]
    fn alerts_match_at_millisecond_precision() {
        let mut t = timeline();
        t[2].time_us = 3_000_123;
        let n =
            [Named { side: Side::Other(Apart::PLACE), time_us: 3_000_000, precision_us: 1000, ip: t[2].ip.clone() }];
        let got = attribute(&t, &n);
        assert!(got[2] && !got[1], "{got:?}");
    }
}
