//! Pure data types shared by every stage: the normalized [`AccessEvent`], token
//! identity, event time, findings and revocation records. No I/O here.

mod event;
mod finding;
mod istr;
mod secret;
mod time;
mod token;

pub use event::{AccessEvent, Geo, SourcePos};
pub use finding::{Evidence, Finding, Response, Severity, Use};
pub use istr::IStr;
pub use secret::{redact_url, Secret};
pub(crate) use time::truncate;
pub use time::{EventTime, TimeError};
pub use token::{escape_part, key_part, Origin, PrfHasher, TokenId, TokenInfo, TokenKey, Verdict};
