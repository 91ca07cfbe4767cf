//! Pure data types shared by every stage: the normalized [`AccessEvent`], token
//! identity, event time, findings and revocation records. No I/O here.

/// tokenhound's version, as alerts and reports name it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

mod event;
mod finding;
mod istr;
mod net;
mod revocations;
mod risk;
mod secret;
mod time;
mod token;

pub use event::{anon, AccessEvent, Geo, SourcePos, MAX_RADIUS_KM};
pub use finding::{Apart, Evidence, Finding, Response, Severity, Side, Use};
pub use istr::{cut, IStr, Interner};
pub use net::{prefix_name, prefix_of};
pub use revocations::{RevocationView, Revoked};
pub use risk::{Contribution, RiskChange, RiskLevel, RiskScope};
pub use secret::{redact_url, Secret};
pub(crate) use time::truncate;
pub use time::{EventTime, TimeError};
pub use token::{
    escape_part, fnv1a, key_part, subject_route, Origin, PrfHasher, TokenId, TokenInfo, TokenKey, Verdict,
};
