//! Anonymizers: the GeoIP2 Anonymous IP database (VPN, Tor exit, public and
//! residential proxies; its hosting flag is ignored: thieves rent servers,
//! and calling hosting "anonymous" would blind impossible-travel to them) and
//! plain lists (Tor exit nodes, Apple iCloud Private Relay's egress ranges, a
//! VPN provider's CIDRs): one address or CIDR a line, `#` comments, the first
//! comma-separated column (the Private Relay CSV's shape). Lists are merged
//! into sorted ranges and searched in O(log n).

use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use super::geo::GeoError;
use crate::model::anon;

#[derive(Deserialize, Default)]
struct AnonymousIp {
    #[serde(default)]
    is_anonymous_vpn: bool,
    #[serde(default)]
    is_tor_exit_node: bool,
    #[serde(default)]
    is_public_proxy: bool,
    #[serde(default)]
    is_residential_proxy: bool,
}

/// The anonymizer sources, opened.
#[derive(Default)]
pub struct Anonymizers {
    db: Option<Reader<Vec<u8>>>,
    /// (first, last, kind bits), sorted by first, not overlapping.
    ranges: Vec<(u128, u128, u8)>,
}

fn as_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl Anonymizers {
    /// Open the database and the lists (`(kind bits, path)`).
    pub fn open(db: Option<&Path>, lists: &[(u8, &Path)]) -> Result<Self, GeoError> {
        let db = match db {
            Some(p) => {
                let r = Reader::open_readfile(p)
                    .map_err(|e| GeoError::Open { path: p.display().to_string(), why: e.to_string() })?;
                let t = r.metadata().database_type.to_ascii_lowercase();
                if !t.contains("anonymous") {
                    let path = p.display().to_string();
                    return Err(GeoError::Kind { path, found: t, expected: "an Anonymous IP database" });
                }
                Some(r)
            }
            None => None,
        };
        let mut raw = Vec::new();
        for (kind, p) in lists {
            let text = std::fs::read_to_string(p)
                .map_err(|e| GeoError::Open { path: p.display().to_string(), why: e.to_string() })?;
            for (i, line) in text.lines().enumerate() {
                let l = line.split('#').next().unwrap_or("").trim();
                let first = l.split(',').next().unwrap_or("").trim();
                if first.is_empty() {
                    continue;
                }
                let net = first
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| first.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| GeoError::Open {
                        path: format!("{}:{}", p.display(), i + 1),
                        why: format!("{:?} is not an address or CIDR", crate::ingest::scrub(first)),
                    })?;
                let (a, b) = (as_u128(net.network()), as_u128(net.broadcast()));
                raw.push((a, b, *kind));
            }
        }
        Ok(Anonymizers { db, ranges: merge(raw) })
    }

    pub fn is_empty(&self) -> bool {
        self.db.is_none() && self.ranges.is_empty()
    }

    /// The anonymizer kinds of an address (0: none known).
    pub fn lookup(&self, ip: IpAddr) -> u8 {
        let mut bits = 0;
        if let Some(r) = &self.db {
            if let Ok(Ok(Some(a))) = r.lookup(ip).map(|res| res.decode::<AnonymousIp>()) {
                bits |= if a.is_anonymous_vpn { anon::VPN } else { 0 }
                    | if a.is_tor_exit_node { anon::TOR } else { 0 }
                    | if a.is_public_proxy { anon::PUBLIC_PROXY } else { 0 }
                    | if a.is_residential_proxy { anon::RESIDENTIAL_PROXY } else { 0 };
            }
        }
        let x = as_u128(ip);
        let i = self.ranges.partition_point(|r| r.0 <= x);
        if i > 0 && self.ranges[i - 1].1 >= x {
            bits |= self.ranges[i - 1].2;
        }
        bits
    }
}

/// Sorted, non-overlapping ranges; where ranges overlap their kinds join.
/// Each kind's ranges are merged first (sort + sweep), then the few kinds
/// are overlaid: O(n log n) whatever the overlap.
fn merge(raw: Vec<(u128, u128, u8)>) -> Vec<(u128, u128, u8)> {
    let mut edges: Vec<(u128, bool, u8)> = Vec::new(); // (position, is_end_plus_one, bit)
    for bit in (0..8).map(|i| 1u8 << i) {
        let mut mine: Vec<(u128, u128)> = raw.iter().filter(|r| r.2 & bit != 0).map(|r| (r.0, r.1)).collect();
        mine.sort_unstable();
        let mut cur: Option<(u128, u128)> = None;
        for (a, b) in mine {
            match cur {
                Some((ca, cb)) if a <= cb.saturating_add(1) => cur = Some((ca, cb.max(b))),
                Some((ca, cb)) => {
                    edges.extend([(ca, false, bit), (cb.saturating_add(1), true, bit)]);
                    cur = Some((a, b));
                }
                None => cur = Some((a, b)),
            }
        }
        if let Some((ca, cb)) = cur {
            edges.extend([(ca, false, bit), (cb.saturating_add(1), true, bit)]);
        }
    }
    edges.sort_unstable();
    let mut out: Vec<(u128, u128, u8)> = Vec::new();
    let mut bits = 0u8;
    let mut from = 0u128;
    let mut i = 0;
    while i < edges.len() {
        let at = edges[i].0;
        if bits != 0 && at > from {
            match out.last_mut() {
                Some(l) if l.2 == bits && l.1.checked_add(1) == Some(from) => l.1 = at - 1,
                _ => out.push((from, at - 1, bits)),
            }
        }
        while i < edges.len() && edges[i].0 == at {
            let (_, end, bit) = edges[i];
            if end {
                bits &= !bit;
            } else {
                bits |= bit;
            }
            i += 1;
        }
        from = at;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_merge_and_match_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let (tor, relay) = (dir.path().join("tor.txt"), dir.path().join("relay.csv"));
        std::fs::write(&tor, "# tor exits\n198.51.100.7\n198.51.100.0/30 # overlaps\n").unwrap();
        std::fs::write(&relay, "172.224.224.0/27,GB,GB-EN,London,\n2a02:26f7:b3c0:4000::/64,GB,GB-EN,London,\n")
            .unwrap();
        let a = Anonymizers::open(None, &[(anon::TOR, &tor), (anon::RELAY, &relay)]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(a.lookup(ip("198.51.100.7")), anon::TOR);
        assert_eq!(a.lookup(ip("198.51.100.2")), anon::TOR);
        assert_eq!(a.lookup(ip("198.51.100.8")), 0);
        assert_eq!(a.lookup(ip("172.224.224.31")), anon::RELAY);
        assert_eq!(a.lookup(ip("172.224.224.32")), 0);
        assert_eq!(a.lookup(ip("2a02:26f7:b3c0:4000::1")), anon::RELAY);
        // kinds overlap and join; 60 k duplicate and nested lines load fast
        let vpn = dir.path().join("vpn.txt");
        let mut big = String::from("10.0.0.0/8\n");
        for i in 0..30_000u32 {
            big.push_str("10.0.0.0/8\n");
            big.push_str(&format!("10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255));
        }
        std::fs::write(&vpn, big).unwrap();
        std::fs::write(&tor, "10.0.0.7\n").unwrap();
        let a = Anonymizers::open(None, &[(anon::VPN, &vpn), (anon::TOR, &tor)]).unwrap();
        assert_eq!(a.lookup(ip("10.0.0.7")), anon::VPN | anon::TOR);
        assert_eq!(a.lookup(ip("10.0.0.8")), anon::VPN);
        assert_eq!(a.lookup(ip("10.255.255.255")), anon::VPN);
        assert_eq!(a.lookup(ip("11.0.0.0")), 0);
        assert_eq!(a.ranges.len(), 3, "{:?}", a.ranges.len());
        std::fs::write(&tor, "not-an-ip\n").unwrap();
        let e = Anonymizers::open(None, &[(anon::TOR, &tor)]).err().unwrap().to_string();
        assert!(e.contains("tor.txt:1"), "{e}");
    }
}
