//! Output: findings as OCSF 1.8.0 Detection Finding JSON lines (what a SOC
//! ingests), ECS documents, a table for people, and revocation requests for
//! the hooks.

mod ecs;
mod event;
mod ocsf;
mod revocation;
mod table;

pub use ecs::ecs_json;
pub use event::event_json;
pub use ocsf::{ocsf_bytes, ocsf_json, write_ocsf, OCSF_PROFILES, OCSF_SYSTEM_PROFILES, OCSF_VERSION};
pub use revocation::revocation_request;
pub use table::{escape_controls, table_header, table_row};

/// Alert formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// OCSF 1.8.0 Detection Finding, one JSON object a line.
    Ocsf,
    /// Elastic Common Schema alert documents, one a line.
    Ecs,
    /// One line a finding, for people.
    Table,
}
