//! The few fields of librdkafka's statistics tokenhound reads. librdkafka
//! sends its whole statistics JSON every second per client (every broker's
//! and partition's counters and latency windows); rdkafka's typed
//! `Statistics` decodes all of it into maps of strings (about 2 % of the
//! stream's CPU in a profile). Decoding only these fields skips the rest;
//! what is kept is a string per broker and partition key.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize, Debug)]
pub struct Stats {
    /// `consumer` or `producer`.
    #[serde(rename = "type", default)]
    pub client_type: String,
    #[serde(default)]
    brokers: BTreeMap<String, Broker>,
    #[serde(default)]
    topics: BTreeMap<String, Topic>,
}

#[derive(Deserialize, Debug)]
struct Broker {
    #[serde(default)]
    state: String,
}

#[derive(Deserialize, Debug)]
struct Topic {
    #[serde(default)]
    partitions: BTreeMap<String, Partition>,
}

#[derive(Deserialize, Debug)]
struct Partition {
    partition: i32,
    #[serde(default = "unknown")]
    consumer_lag: i64,
}

fn unknown() -> i64 {
    -1
}

impl Stats {
    /// An error for JSON librdkafka did not write (never seen: the caller logs it).
    pub fn parse(raw: &[u8]) -> Result<Stats, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    /// Some broker connection is up.
    pub fn any_broker_up(&self) -> bool {
        self.brokers.values().any(|b| b.state == "UP")
    }

    /// Messages behind, over the assigned partitions whose lag is known
    /// (librdkafka names -1 when it is not, and -1 the internal partition).
    pub fn consumer_lag(&self) -> i64 {
        self.topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_down_and_no_lag() {
        let s = Stats::parse(br#"{"type":"consumer","brokers":{"b":{"state":"DOWN"}},"topics":{"t":{"partitions":{"-1":{"partition":-1,"consumer_lag":7},"0":{"partition":0,"consumer_lag":-1},"1":{"partition":1,"consumer_lag":3}}}}}"#).unwrap();
        assert!(!s.any_broker_up());
        assert_eq!(s.consumer_lag(), 3);
        assert!(Stats::parse(b"{\"type\":").is_err());
    }
}
