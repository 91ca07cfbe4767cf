//! Output: findings as OCSF 1.8.0 Detection Finding JSON lines (what a SOC
//! ingests), a table for people, and revocation requests for the hooks.

mod event;
mod ocsf;
mod revocation;
mod table;

pub use event::event_json;
pub use ocsf::{ocsf_json, OCSF_VERSION};
pub use revocation::revocation_request;
pub use table::{table_header, table_row};

/// Alert formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Ocsf,
    Table,
}
