//! `tokenhound stream`: settings (file, env, flags) into a plan for the Kafka driver.

use anyhow::Result;

use super::build::{engine_config, pipeline, rules};
use super::Outcome;
use crate::settings::{RawInput, RawSettings};

pub fn run_stream(a: crate::cli::StreamArgs) -> Result<Outcome> {
    let p = pipeline(&a.pipeline, |raw| {
        kafka_flags(raw, &a.brokers, &a.group);
        if a.listen.is_some() {
            raw.stream.listen = a.listen.clone();
        }
        if !a.inputs.is_empty() {
            raw.stream.inputs =
                a.inputs.iter().map(|i| RawInput { topic: i.topic.clone(), profile: i.profile }).collect();
        }
    })?;
    let s = &p.settings;
    let plan = crate::stream::StreamPlan {
        settings: s.stream.clone(),
        stage: a.stage,
        input_keyed: a.input_keyed,
        factory: p.factory.clone(),
        rules: rules(s)?,
        engine: engine_config(s),
        exp_margin_secs: s.exp_margin_secs,
        keys: p.keys.clone(),
        jwks_refresh_secs: s.jwks_refresh_secs,
    };
    crate::stream::run(plan)?;
    Ok(Outcome::Ok)
}

/// `tokenhound events dump`: the events topic as NDJSON on stdout.
pub fn run_events(a: crate::cli::EventsArgs) -> Result<Outcome> {
    let s = super::build::settings(&a.common, |raw| kafka_flags(raw, &a.brokers, &a.group))?;
    let crate::cli::EventsAction::Dump { topic, partition, offset, max } = a.action;
    let plan = crate::stream::dump::DumpPlan {
        topic: topic.unwrap_or_else(|| s.stream.events_topic.clone()),
        partition,
        offset,
        max,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let d = crate::stream::dump::dump(&s.stream, &plan, &mut out).map_err(anyhow::Error::msg)?;
    eprintln!("{} record(s) of {}, {} unreadable", d.records, plan.topic, d.unreadable);
    Ok(Outcome::Ok)
}

/// `--brokers` and `--group` over the `[stream]` settings.
pub(super) fn kafka_flags(raw: &mut RawSettings, brokers: &Option<String>, group: &Option<String>) {
    if brokers.is_some() {
        raw.stream.brokers = brokers.clone();
    }
    if group.is_some() {
        raw.stream.group = group.clone();
    }
}
