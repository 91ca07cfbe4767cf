//! The `[stream]` section: brokers, topics, consumer groups and the
//! operational knobs of `tokenhound stream`. Parsed with the rest of the
//! settings (so a typo is an error even in a build without Kafka), validated
//! into [`StreamSettings`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration;
use crate::ingest::Profile;
use crate::model::Secret;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    pub brokers: Option<String>,
    /// Consumer group prefix: stages join `<group>.ingest` and `<group>.detect`.
    pub group: Option<String>,
    /// Static membership: a stable id per instance (`group.instance.id`).
    pub instance_id: Option<String>,
    #[serde(default)]
    pub inputs: Vec<RawInput>,
    pub events_topic: Option<String>,
    /// The format the ingest stage writes to the events topic: 3 (packs of
    /// binary events, one record per events partition and watermark period:
    /// the default), 2 (one binary record per event) or 1 (JSON): 2 or 1
    /// while detect stages of a build that reads only up to that version
    /// still run (a rolling upgrade). All three are always read.
    pub events_format: Option<u8>,
    pub alerts_topic: Option<String>,
    pub requests_topic: Option<String>,
    pub dead_letter_topic: Option<String>,
    /// The compacted topic of per-subject baseline snapshots (keyed by
    /// subject, partitioned like the events topic); default: the events
    /// topic's name with `.subject-baselines` for `.events`.
    pub baselines_topic: Option<String>,
    /// Topics of revocations (the identity provider's); the requests topic is always read too.
    pub revocations_topics: Option<Vec<String>>,
    /// Also read tokenhound's own revocation requests into the revocation view.
    pub feed_own_requests: Option<bool>,
    /// `earliest`, or `error`: a group without a committed offset stops with an error.
    pub auto_offset_reset: Option<OffsetReset>,
    /// How far back state is rebuilt from the events topic on assignment.
    pub max_token_lifetime: Option<String>,
    /// A gateway partition caught up and quiet for this long (ingest), or
    /// whose watermark records stop coming for this long (detect: its ingest
    /// instance is gone), no longer holds the detect stage back.
    pub idle_timeout: Option<String>,
    /// The ingest stage pauses a gateway partition read this far (event
    /// time) ahead of the slowest one, so the detect stage's buffers stay
    /// bounded while a backlog drains.
    pub align: Option<String>,
    /// Outputs awaiting a delivery report before input partitions are paused.
    pub max_in_flight: Option<usize>,
    pub shutdown_timeout: Option<String>,
    /// Address of `/metrics`, `/livez`, `/readyz`.
    pub listen: Option<String>,
    /// Extra librdkafka properties (e.g. `security.protocol`), passed as
    /// is. Values are secrets (`sasl.password`...): never printed.
    #[serde(default)]
    pub kafka: BTreeMap<String, Secret>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub topic: String,
    pub profile: Option<Profile>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetReset {
    #[default]
    Earliest,
    /// Refuse to guess: the consumer reports an error and raises an alarm.
    Error,
}

impl OffsetReset {
    pub fn as_kafka(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Error => "error",
        }
    }
}

/// Stages of `tokenhound stream`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Ingest and detect in one process.
    All,
    /// Parse, identify, enrich; produce events keyed by token.
    Ingest,
    /// Consume events keyed by token; one engine per partition; alerts.
    Detect,
}

/// One input topic and the gateway profile of its records.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTopic {
    pub topic: String,
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub brokers: String,
    pub group: String,
    pub instance_id: Option<String>,
    pub inputs: Vec<InputTopic>,
    pub events_topic: String,
    /// 1 (JSON) or 2 (binary).
    pub events_format: u8,
    pub alerts_topic: String,
    pub requests_topic: String,
    pub dead_letter_topic: String,
    pub baselines_topic: String,
    pub revocations_topics: Vec<String>,
    pub feed_own_requests: bool,
    pub auto_offset_reset: OffsetReset,
    pub max_token_lifetime_secs: i64,
    pub idle_timeout_ms: u64,
    pub align_secs: i64,
    pub max_in_flight: usize,
    pub shutdown_timeout_ms: u64,
    pub listen: String,
    pub kafka: BTreeMap<String, Secret>,
}

impl RawStream {
    pub fn validate(self, errs: &mut Vec<String>) -> StreamSettings {
        let max_token_lifetime_secs = duration(&self.max_token_lifetime, "stream.max_token_lifetime", 86_400, errs);
        let idle_timeout_ms = duration(&self.idle_timeout, "stream.idle_timeout", 30, errs) as u64 * 1000;
        let align_secs = duration(&self.align, "stream.align", 10, errs).max(1);
        let shutdown_timeout_ms = duration(&self.shutdown_timeout, "stream.shutdown_timeout", 30, errs) as u64 * 1000;
        let topic = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_string());
        let events = topic(self.events_topic.clone(), "tokenhound.events");
        let baselines = match events.strip_suffix(".events") {
            Some(base) => format!("{base}.subject-baselines"),
            None => format!("{events}.subject-baselines"),
        };
        let s = StreamSettings {
            brokers: topic(self.brokers, "127.0.0.1:9092"),
            group: topic(self.group, "tokenhound"),
            instance_id: self.instance_id,
            inputs: self.inputs.into_iter().map(|i| InputTopic { topic: i.topic, profile: i.profile }).collect(),
            events_topic: topic(self.events_topic, "tokenhound.events"),
            events_format: self.events_format.unwrap_or(3),
            alerts_topic: topic(self.alerts_topic, "tokenhound.alerts"),
            requests_topic: topic(self.requests_topic, "tokenhound.revocation-requests"),
            dead_letter_topic: topic(self.dead_letter_topic, "tokenhound.dead-letter"),
            baselines_topic: topic(self.baselines_topic, &baselines),
            revocations_topics: self.revocations_topics.unwrap_or_else(|| vec!["tokenhound.revocations".into()]),
            feed_own_requests: self.feed_own_requests.unwrap_or(true),
            auto_offset_reset: self.auto_offset_reset.unwrap_or_default(),
            max_token_lifetime_secs,
            idle_timeout_ms,
            align_secs,
            max_in_flight: self.max_in_flight.unwrap_or(100_000),
            shutdown_timeout_ms,
            listen: topic(self.listen, "127.0.0.1:9464"),
            kafka: self.kafka,
        };
        if !matches!(s.events_format, 1..=3) {
            errs.push(format!(
                "stream.events_format: {} is not a format this build writes (1, 2 or 3)",
                s.events_format
            ));
        }
        if s.max_in_flight == 0 {
            errs.push("stream.max_in_flight: must be at least 1".into());
        }
        if s.listen.parse::<std::net::SocketAddr>().is_err() {
            errs.push(format!("stream.listen: {:?} is not an address:port", s.listen));
        }
        for k in s.kafka.keys() {
            if matches!(k.as_str(), "enable.auto.offset.store" | "enable.idempotence" | "group.id" | "partitioner") {
                errs.push(format!("stream.kafka.{k}: set by tokenhound (its delivery guarantees depend on it)"));
            }
        }
        s
    }
}

/// `TOPIC` or `TOPIC:PROFILE`, as the `--input` flag takes it.
pub fn parse_input(s: &str) -> Result<InputTopic, String> {
    use clap::ValueEnum;
    match s.rsplit_once(':') {
        Some((t, p)) if !t.is_empty() => {
            let profile = Profile::from_str(p, true).map_err(|_| format!("unknown profile {p:?} in {s:?}"))?;
            Ok(InputTopic { topic: t.to_string(), profile: Some(profile) })
        }
        _ => Ok(InputTopic { topic: s.to_string(), profile: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let mut errs = Vec::new();
        let s = RawStream::default().validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(s.events_topic, "tokenhound.events");
        assert_eq!(s.max_token_lifetime_secs, 86_400);
        let raw = RawStream {
            listen: Some("nowhere".into()),
            idle_timeout: Some("soon".into()),
            kafka: [("enable.auto.offset.store".to_string(), Secret::new("true"))].into(),
            ..Default::default()
        };
        raw.validate(&mut errs);
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn input_flag() {
        assert_eq!(parse_input("gw:kong").unwrap(), InputTopic { topic: "gw".into(), profile: Some(Profile::Kong) });
        assert_eq!(parse_input("gw").unwrap().profile, None);
        assert!(parse_input("gw:nope").is_err());
    }
}
