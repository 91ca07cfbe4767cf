//! The revocation feed: every partition of the revocations topics (the
//! identity provider's, and tokenhound's own requests topic) read from the
//! beginning, without a group, into the revocation view the engines consult.
//! The detect stage starts once the feed has caught up with the ends the
//! topics had at start, so a token revoked before a restart is still known.
//! The view is persistent (a copy shares structure): publishing every 100 ms
//! costs O(1), not a copy of every entry. An entry is dropped once every
//! token it could match has expired (`max_token_lifetime` after it, in event
//! time: the detect engines' watermark, so a replayed backlog still finds
//! its revocations), so an endless revocation topic does not grow the view
//! without bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::kafka::{base_config, Ctx};
use super::metrics::{KindLabels, Shared};
use crate::enrich::{parse_revocation_record, RevocationLine};
use crate::model::RevocationView;
use crate::settings::StreamSettings;

const STAGE: &str = "feed";
/// How long the detect stage waits for the feed before starting without it.
const READY_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Feed {
    view: Mutex<(Arc<RevocationView>, u64)>,
    version: AtomicU64,
    ready: AtomicBool,
    /// The lowest watermark of the detect engines (epoch seconds), or 0.
    engines_watermark: std::sync::atomic::AtomicI64,
}

impl Feed {
    pub fn current(&self) -> (Arc<RevocationView>, u64) {
        let g = self.view.lock().expect("not poisoned");
        (g.0.clone(), g.1)
    }

    /// The detect stage reports its lowest engine watermark (event time).
    pub fn note_watermark(&self, secs: i64) {
        self.engines_watermark.store(secs, Ordering::Release);
    }

    /// The view, if it changed since `version`.
    pub fn newer_than(&self, version: u64) -> Option<(Arc<RevocationView>, u64)> {
        (self.version.load(Ordering::Acquire) != version).then(|| self.current())
    }

    fn publish(&self, v: &RevocationView) {
        let mut g = self.view.lock().expect("not poisoned");
        g.1 += 1;
        // O(1): the persistent maps share their structure with `v`
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
    let mut expiry = Expiry::default();
    let lifetime = s.max_token_lifetime_secs;
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
                            expiry.add(&r, lifetime);
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
        if expiry.due(&mut view, feed.engines_watermark.load(Ordering::Acquire)) {
            dirty = true;
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

/// When each revocation stops mattering: a token revoked at `t`, or a
/// subject's tokens issued before `t`, have all expired `lifetime` later.
#[derive(Default)]
struct Expiry {
    queue: std::collections::BinaryHeap<std::cmp::Reverse<(i64, RevocationLine)>>,
}

impl Expiry {
    fn add(&mut self, r: &RevocationLine, lifetime: i64) {
        let t = match r {
            RevocationLine::Token { at, .. } => at.as_secs(),
            RevocationLine::Subject { before, .. } => before.as_secs(),
            RevocationLine::Fingerprint => return,
        };
        self.queue.push(std::cmp::Reverse((t.saturating_add(lifetime), r.clone())));
    }

    /// Forget what expired by `now` (event time, seconds); true if any.
    fn due(&mut self, view: &mut RevocationView, now: i64) -> bool {
        let mut any = false;
        while self.queue.peek().is_some_and(|std::cmp::Reverse((t, _))| *t < now) {
            let Some(std::cmp::Reverse((_, r))) = self.queue.pop() else { break };
            match r {
                RevocationLine::Token { iss, jti, at } => view.forget_token(&iss, &jti, at),
                RevocationLine::Subject { iss, sub, before } => view.forget_subject(&iss, &sub, before),
                RevocationLine::Fingerprint => {}
            }
            any = true;
        }
        any
    }
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
