//! Adapters behind the engine's ports: GeoIP/ASN lookups (maxminddb, cached),
//! the revocation view loaded from a file, and the [`Reader`] that turns a
//! line into enriched events for every driver.

mod anon;
mod geo;
mod reader;
mod revocations;

pub use anon::Anonymizers;
pub use geo::{GeoDb, GeoError, GeoLookup, GeoSchema};
pub use reader::{Reader, ReaderFactory};
pub use revocations::{
    load_revocations, parse_revocation_line, parse_revocation_record, RevocationError, RevocationLine,
};
