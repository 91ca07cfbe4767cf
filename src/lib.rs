//! tokenhound: detects stolen JSON Web Tokens in API-gateway access logs.
//!
//! # Layout
//! - [`model`]: pure types (event, token identity, finding).
//! - [`ingest`]: raw lines to [`model::AccessEvent`], one module per gateway.
//! - [`token`]: JWT decode, verification, identity; the raw token ends here.
//! - [`enrich`]: GeoIP/ASN and the revocation view, behind the engine's ports.
//! - [`rules`]: rule files to compiled rules.
//! - [`selftest`]: the driver that runs every rule's inline tests through a session.
//! - [`engine`]: the pure, deterministic detection core (no I/O, no clock).
//! - [`output`]: OCSF alerts and the table view.
//! - [`replay`]: the files driver (sharded across cores).
//! - [`respond`]: revocation requests to hooks (Redis, Shared Signals, webhooks), with guard rails.
//! - [`gen`]: the synthetic log generator with planted thefts.
//! - `forensics` (feature `batch`): polars; for now the Parquet export.
//! - `stream` (feature `kafka`): the Kafka driver (rdkafka, tokio, metrics).
//! - [`settings`], [`app`], [`cli`]: configuration and wiring.

pub mod app;
pub mod cli;
pub mod engine;
pub mod enrich;
#[cfg(feature = "batch")]
pub mod forensics;
pub mod gen;
pub mod ingest;
pub mod model;
pub mod output;
pub mod replay;
pub mod respond;
pub mod rules;
pub mod selftest;
pub mod settings;
#[cfg(feature = "kafka")]
pub mod stream;
pub mod token;
