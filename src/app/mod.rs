//! Wiring, one small file per command over one shared builder ([`build`]):
//! CLI flags and settings become rules, keys, GeoIP, identity keys, readers
//! and engine settings, handed to a driver. No detection, no formats, no
//! protocol here; `main.rs` calls the `run_*` entry points.

mod build;
#[cfg(feature = "batch")]
mod investigate;
mod replay;
mod respond;
mod rules;
#[cfg(feature = "kafka")]
mod stream;

pub use build::{engine_config, geo, pipeline, rules, settings, Pipeline};
#[cfg(feature = "batch")]
pub use investigate::{run_export, run_investigate};
pub use replay::run_replay;
#[cfg(feature = "kafka")]
pub use respond::run_respond;
pub use rules::{run_gen, run_rules_check, run_rules_list, run_rules_test};
#[cfg(feature = "kafka")]
pub use stream::{run_events, run_stream};

/// The error of a command this binary was built without (the lean default
/// build has replay, rules and gen; polars and librdkafka are opt-in).
pub fn not_built(command: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`tokenhound {command}` is not in this build: rebuild with `--features {feature}` \
         (or `--features full`), e.g. `cargo install tokenhound --features full`"
    )
}

/// Exit codes: 0 success, 1 rule tests failed, 2 error.
pub enum Outcome {
    Ok,
    TestsFailed,
}
