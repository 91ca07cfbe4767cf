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
}

impl Geo {
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
