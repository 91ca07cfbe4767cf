//! The ingest stage: consume gateway records (a profile per topic), parse,
//! identify and enrich them, and produce each event to the events topic keyed
//! by its token, so one token's events stay in order on one partition. Bad
//! records go to the dead-letter topic; the stream goes on.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use super::kafka::{consumer_config, Ctx};
use super::metrics::{OutcomeLabels, Shared};
use super::out::{DeadLetter, Outputs};
use super::stage::{self, Handler};
use super::wire;
use crate::app::Factory;
use crate::enrich::GeoLookup;
use crate::ingest::Ingestor;
use crate::model::{AccessEvent, IStr, SourcePos};
use crate::settings::StreamSettings;

const STAGE: &str = "ingest";

/// A parser per input topic (each may have its own profile).
pub struct Parsers {
    by_topic: HashMap<String, (Ingestor, Option<GeoLookup>, IStr)>,
}

impl Parsers {
    pub fn new(s: &StreamSettings, factory: &Factory) -> Self {
        let by_topic = s
            .inputs
            .iter()
            .map(|i| {
                let (ing, geo) = factory(i.profile);
                (i.topic.clone(), (ing, geo, IStr::from(i.topic.as_str())))
            })
            .collect();
        Parsers { by_topic }
    }

    /// Parse one record into events (a Kong batch holds several), enriched.
    /// Returns the problem to dead-letter, if any: the whole record's, or
    /// the first bad one of a batch (whose good records are still in `out`).
    pub fn parse(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
        out: &mut Vec<AccessEvent>,
    ) -> Option<(&'static str, String)> {
        let Some((ing, geo, name)) = self.by_topic.get_mut(topic) else {
            return Some(("unknown_topic", format!("no profile configured for topic {topic}")));
        };
        let src = SourcePos::Kafka { topic: name.clone(), partition, offset };
        let start = out.len();
        let mut errs = Vec::new();
        ing.ingest_all(payload, &src, out, &mut errs);
        if let Some(g) = geo {
            for ev in &mut out[start..] {
                g.enrich(ev);
            }
        }
        let n = errs.len();
        errs.into_iter().next().map(|e| {
            let more = if n > 1 { format!(" (and {} more bad records)", n - 1) } else { String::new() };
            (e.kind(), format!("{e}{more}"))
        })
    }
}

pub fn run(s: StreamSettings, factory: Factory, shared: Arc<Shared>, out: Arc<Outputs>) -> Result<()> {
    let ctx = Ctx::new(shared.clone(), STAGE, None);
    let consumer: BaseConsumer<Ctx> = consumer_config(&s, &format!("{}.ingest", s.group), STAGE)
        .create_with_context(ctx)
        .context("cannot create the ingest consumer")?;
    let topics: Vec<&str> = s.inputs.iter().map(|i| i.topic.as_str()).collect();
    consumer.subscribe(&topics).context("cannot subscribe to the input topics")?;
    let mut h =
        Ingest { parsers: Parsers::new(&s, &factory), events: Vec::new(), shared: shared.clone(), out: out.clone() };
    stage::run(STAGE, &consumer, &shared, &s, &out, &mut h);
    Ok(())
}

struct Ingest {
    parsers: Parsers,
    events: Vec<AccessEvent>,
    shared: Arc<Shared>,
    out: Arc<Outputs>,
}

impl Ingest {
    fn count(&self, outcome: &str) {
        let l = OutcomeLabels { stage: STAGE.into(), outcome: outcome.into() };
        self.shared.metrics.events.get_or_create(&l).inc();
    }
}

impl Handler for Ingest {
    fn message(&mut self, m: &BorrowedMessage<'_>) {
        let tp = (Arc::<str>::from(m.topic()), m.partition());
        let batch = self.shared.consumed(&tp, m.offset());
        self.events.clear();
        let payload = m.payload().unwrap_or_default();
        let bad = self.parsers.parse(m.topic(), m.partition(), m.offset(), payload, &mut self.events);
        for ev in &self.events {
            match wire::key(ev) {
                Some(k) => {
                    self.out.event(&k, &wire::encode(ev), batch);
                    self.count("ok");
                }
                None => self.count("no_token"),
            }
        }
        // the record's dead letter goes in the same batch as its good events
        if let Some((kind, error)) = bad {
            self.count("bad");
            self.out.dead_letter(DeadLetter::of(STAGE, m, kind, error, None), batch);
        }
        self.shared.close(batch, [(tp, m.offset())]);
    }
}
