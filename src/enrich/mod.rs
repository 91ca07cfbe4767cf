//! Adapters behind the engine's ports: GeoIP/ASN lookups (maxminddb, cached)
//! and the revocation view loaded from a file.

mod geo;
mod revocations;

pub use geo::{GeoDb, GeoError, GeoLookup, GeoSchema};
pub use revocations::{
    load_revocations, parse_revocation_line, parse_revocation_record, RevocationError, RevocationLine,
};
