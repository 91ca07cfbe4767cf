//! The generator's geography: the sample CSV (the same one the sample mmdb is
//! built from), so every generated address geolocates with the sample db.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::rng::Rng;

const CSV: &str = include_str!("../../sample-logs/geo/sample-geo.csv");

#[derive(Clone, Debug)]
pub struct Net {
    pub base: IpAddr,
    pub city: String,
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    pub asn: u32,
    pub kind: String,
}

pub struct World {
    pub nets: Vec<Net>,
    pub cities: Vec<String>,
}

impl World {
    pub fn load() -> World {
        let mut nets = Vec::new();
        for line in CSV.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let base = f[0].split('/').next().and_then(|s| s.parse().ok()).expect("sample CSV network");
            nets.push(Net {
                base,
                city: f[1].into(),
                country: f[2].into(),
                lat: f[3].parse().expect("lat"),
                lon: f[4].parse().expect("lon"),
                asn: f[6].parse().expect("asn"),
                kind: f[8].into(),
            });
        }
        let mut cities: Vec<String> = Vec::new();
        for n in &nets {
            if !cities.contains(&n.city) {
                cities.push(n.city.clone());
            }
        }
        World { nets, cities }
    }

    /// The networks of a kind in a city (in CSV order).
    pub fn nets(&self, city: &str, kind: &str) -> Vec<&Net> {
        self.nets.iter().filter(|n| n.city == city && n.kind == kind).collect()
    }

    pub fn city_net(&self, city: &str, kind: &str, i: usize) -> &Net {
        let v = self.nets(city, kind);
        v[i % v.len()]
    }

    pub fn hosting(&self, city: &str, asn: u32) -> &Net {
        self.nets.iter().find(|n| n.city == city && n.asn == asn).expect("hosting net in every city")
    }

    pub fn v6(&self, city: &str) -> Option<&Net> {
        self.nets.iter().find(|n| n.city == city && n.base.is_ipv6())
    }

    pub fn country_of(&self, city: &str) -> &str {
        &self.nets.iter().find(|n| n.city == city).expect("city").country
    }

    pub fn distance_km(&self, a: &str, b: &str) -> f64 {
        let p = |c: &str| {
            let n = self.nets.iter().find(|n| n.city == c).expect("city");
            (n.lat, n.lon)
        };
        crate::engine::detectors::haversine_km(p(a), p(b))
    }
}

/// A host address inside a network (/24 or /48).
pub fn host(net: &Net, rng: &mut Rng) -> IpAddr {
    match net.base {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | (2 + rng.below(250) as u32))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) | (rng.next_u64() as u128 & 0xffff_ffff) | 1)),
    }
}
