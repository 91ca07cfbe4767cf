//! The revocation feed: every partition of the revocations topics (the
//! identity provider's, and tokenhound's own requests topic) read from the
//! beginning, without a group, into the revocation view the engines consult.
//! The detect stage starts once the feed has caught up with the ends the
//! topics had at start, so a token revoked before a restart is still known.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::kafka::{base_config, Ctx};
use super::metrics::{KindLabels, Shared};
use crate::engine::RevocationView;
use crate::enrich::parse_revocation_record;
use crate::settings::StreamSettings;

const STAGE: &str = "feed";
/// How long the detect stage waits for the feed before starting without it.
const READY_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Feed {
    view: Mutex<(Arc<RevocationView>, u64)>,
    version: AtomicU64,
    ready: AtomicBool,
}

impl Feed {
    pub fn current(&self) -> (Arc<RevocationView>, u64) {
        let g = self.view.lock().expect("not poisoned");
        (g.0.clone(), g.1)
    }

    /// The view, if it changed since `version`.
    pub fn newer_than(&self, version: u64) -> Option<(Arc<RevocationView>, u64)> {
        (self.version.load(Ordering::Acquire) != version).then(|| self.current())
    }

    fn publish(&self, v: &RevocationView) {
        let mut g = self.view.lock().expect("not poisoned");
        g.1 += 1;
        *g = (Arc::new(v.clone()), g.1);
        self.version.store(g.1, Ordering::Release);
    }

    /// Block until the feed caught up (or a minute passed, with an alarm).
    #[allow(clippy::disallowed_methods)]
    pub fn wait_ready(&self, shared: &Shared) {
        let start = Instant::now();
        while !self.ready.load(Ordering::Acquire) && !shared.stopping() {
            if start.elapsed() > READY_WAIT {
                shared.alarm("revocation feed not caught up after 60 s: detecting without it for now".into());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[allow(clippy::disallowed_methods)]
pub fn run(s: StreamSettings, feed: Arc<Feed>, shared: Arc<Shared>) -> Result<()> {
    let mut topics = s.revocations_topics.clone();
    if s.feed_own_requests {
        topics.push(s.requests_topic.clone());
    }
    let mut cfg = base_config(&s, "tokenhound-feed");
    cfg.set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("group.id", "tokenhound-feed-unused");
    let consumer: BaseConsumer<Ctx> =
        cfg.create_with_context(Ctx::new(shared.clone(), STAGE, None)).context("cannot create the feed consumer")?;
    let mut view = RevocationView::default();
    let mut targets: Vec<(String, i32, i64)> = Vec::new();
    let mut assigned = false;
    let mut dirty = false;
    let mut last_publish = Instant::now();
    let started = Instant::now();
    while !shared.stopping() {
        if !assigned {
            match assign_all(&consumer, &topics) {
                Ok(t) => {
                    targets = t;
                    assigned = true;
                }
                Err(e) if started.elapsed() > Duration::from_secs(10) => {
                    shared.alarm(format!("revocation topics unavailable ({e}); retrying"));
                }
                Err(_) => {}
            }
            if !assigned {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some(p) = m.payload() {
                    match std::str::from_utf8(p).map_err(|e| e.to_string()).and_then(parse_revocation_record) {
                        Ok(r) => {
                            r.apply(&mut view);
                            dirty = true;
                        }
                        Err(e) => {
                            let l = KindLabels { stage: STAGE.into(), kind: "bad_revocation".into() };
                            shared.metrics.dead_letters.get_or_create(&l).inc();
                            tracing::warn!(
                                topic = m.topic(),
                                partition = m.partition(),
                                offset = m.offset(),
                                "bad revocation record skipped: {e}"
                            );
                        }
                    }
                }
                targets.retain(|(t, p, end)| !(t == m.topic() && *p == m.partition() && m.offset() + 1 >= *end));
            }
            Some(Err(e)) => tracing::warn!("revocation feed: {e}"),
            None => {}
        }
        if dirty && (last_publish.elapsed() >= Duration::from_millis(100) || targets.is_empty()) {
            feed.publish(&view);
            dirty = false;
            last_publish = Instant::now();
        }
        if targets.is_empty() && !dirty && !feed.ready.swap(true, Ordering::AcqRel) {
            tracing::info!(revocations = view.len(), "revocation feed caught up");
        }
    }
    Ok(())
}

/// Assign every partition of the topics that exist, from the beginning;
/// returns the end offsets to reach before the feed counts as caught up.
fn assign_all(c: &BaseConsumer<Ctx>, topics: &[String]) -> Result<Vec<(String, i32, i64)>> {
    let timeout = Duration::from_secs(5);
    let mut tpl = TopicPartitionList::new();
    let mut targets = Vec::new();
    for t in topics {
        let md = c.fetch_metadata(Some(t), timeout).with_context(|| format!("metadata of {t}"))?;
        for mt in md.topics() {
            if mt.error().is_some() {
                tracing::warn!(topic = t, "revocation topic not found: skipped");
                continue;
            }
            for p in mt.partitions() {
                tpl.add_partition_offset(t, p.id(), Offset::Beginning)?;
                let (lo, hi) = c.fetch_watermarks(t, p.id(), timeout)?;
                if hi > lo {
                    targets.push((t.clone(), p.id(), hi));
                }
            }
        }
    }
    c.assign(&tpl)?;
    Ok(targets)
}
