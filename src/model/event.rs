//! The normalized access event every gateway profile produces, and the
//! position in the input it came from.

use std::net::IpAddr;
use std::sync::Arc;

use super::{EventTime, IStr, TokenInfo};

/// Where an event came from, so every finding can point back to its line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourcePos {
    File {
        path: IStr,
        line: u64,
    },
    Kafka {
        topic: IStr,
        partition: i32,
        offset: i64,
    },
    /// Inline rule-test events: the test name and the index of the event.
    Test {
        name: IStr,
        index: u64,
    },
}

impl std::fmt::Display for SourcePos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourcePos::File { path, line } => write!(f, "{path}:{line}"),
            SourcePos::Kafka { topic, partition, offset } => write!(f, "{topic}/{partition}@{offset}"),
            SourcePos::Test { name, index } => write!(f, "test {name:?} event {index}"),
        }
    }
}

/// GeoIP and ASN facts for one address (shared through the lookup cache).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Geo {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Accuracy radius in km (0 when the database gives none).
    pub radius_km: f64,
    pub city: Option<Arc<str>>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<Arc<str>>,
    pub asn: Option<u32>,
    pub as_org: Option<Arc<str>>,
    /// What hides the client behind this address ([`anon`] bits; 0: nothing
    /// known). Hosting is not an anonymizer: thieves rent servers.
    pub anonymizer: u8,
}

/// Half the Earth's circumference: no accuracy radius is wider (a wider one
/// would make every distance "explained").
pub const MAX_RADIUS_KM: f64 = 20_038.0;

impl Geo {
    /// The first value the engine cannot measure with, by field name:
    /// coordinates off the globe or not finite, a radius negative or not
    /// finite (a NaN would make every distance test "never too far").
    pub fn out_of_range(&self) -> Option<(&'static str, f64)> {
        let bad = |v: f64, lim: f64| !(-lim..=lim).contains(&v);
        if !(0.0..=MAX_RADIUS_KM).contains(&self.radius_km) {
            return Some(("radius_km", self.radius_km));
        }
        if let Some(v) = self.lat.filter(|v| bad(*v, 90.0)) {
            return Some(("lat", v));
        }
        self.lon.filter(|v| bad(*v, 180.0)).map(|v| ("lon", v))
    }
}

/// The kinds of anonymizer a [`Geo`] may name (bits of `Geo::anonymizer`).
pub mod anon {
    pub const VPN: u8 = 1;
    pub const TOR: u8 = 1 << 1;
    pub const PUBLIC_PROXY: u8 = 1 << 2;
    pub const RESIDENTIAL_PROXY: u8 = 1 << 3;
    /// A privacy relay (Apple iCloud Private Relay's egress ranges).
    pub const RELAY: u8 = 1 << 4;
    /// On an operator's own list.
    pub const LISTED: u8 = 1 << 5;
    pub const ALL: u8 = (1 << 6) - 1;

    /// The kinds a bit set names, for alerts (`vpn`, `tor`...).
    pub fn names(bits: u8) -> Vec<&'static str> {
        [
            (VPN, "vpn"),
            (TOR, "tor"),
            (PUBLIC_PROXY, "public-proxy"),
            (RESIDENTIAL_PROXY, "residential-proxy"),
            (RELAY, "relay"),
            (LISTED, "listed"),
        ]
        .into_iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n)
        .collect()
    }

    /// A kind by its name (settings).
    pub fn parse(s: &str) -> Option<u8> {
        Some(match s {
            "vpn" => VPN,
            "tor" => TOR,
            "public-proxy" | "proxy" => PUBLIC_PROXY,
            "residential-proxy" => RESIDENTIAL_PROXY,
            "relay" => RELAY,
            "listed" => LISTED,
            _ => return None,
        })
    }
}

impl Geo {
    /// Behind a VPN, Tor, a proxy or a relay.
    pub fn anonymized(&self) -> bool {
        self.anonymizer & anon::ALL != 0
    }

    /// Behind an anonymizer whose exit says nothing of where its user is (a
    /// privacy relay keeps the user's region: it does not hide the place).
    pub fn hides_place(&self) -> bool {
        self.anonymizer & anon::ALL & !anon::RELAY != 0
    }

    pub fn located(&self) -> Option<(f64, f64)> {
        Some((self.lat?, self.lon?))
    }
}

/// One request as tokenhound understands it. Holds no raw token.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessEvent {
    pub time: EventTime,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<IStr>,
    pub method: IStr,
    pub path: IStr,
    pub status: u16,
    pub request_id: Option<Arc<str>>,
    pub gateway: Option<IStr>,
    pub bytes: Option<u64>,
    /// `None` for requests without a bearer token or claims.
    pub token: Option<Arc<TokenInfo>>,
    pub geo: Option<Arc<Geo>>,
    pub source: SourcePos,
}
