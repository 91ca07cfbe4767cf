//! Parked revocation requests, decided by a person: `tokenhound respond
//! list-parked` reads the parked topic (requests the budget held back, and
//! the decisions taken on them); `respond approve ID...` sends each request
//! back to the requests topic with `approved_by` (the responder delivers it
//! without spending the budget), `respond reject ID...` drops it. Every
//! decision names who and why, is written to the parked topic (keyed like
//! the request, so it follows it in its partition: a request is decided
//! once) and to the audit topic. Two people deciding the same request at the
//! same moment can both pass the check (there is no lock on a topic): the
//! audit topic shows both.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{json, Value};

use crate::respond::Request;
use crate::settings::{RespondSettings, StreamSettings};

/// One parked request and what was decided on it.
#[derive(Debug, Clone)]
pub struct Parked {
    pub id: String,
    pub request: Value,
    /// (approved|rejected, by, reason), once decided.
    pub decision: Option<(String, String, String)>,
}

/// The parked requests in the order they were parked.
pub fn list(s: &StreamSettings, r: &RespondSettings) -> Result<Vec<Parked>> {
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Parked> = Vec::new();
    for v in read_topic(s, &r.parked_topic)? {
        if let Some(d) = v.get("decision").and_then(Value::as_str) {
            let id = v["id"].as_str().unwrap_or_default();
            if let Some(&i) = by_id.get(id) {
                let who = |k: &str| v[k].as_str().unwrap_or("").to_string();
                out[i].decision = Some((d.to_string(), who("by"), who("reason")));
            }
            continue;
        }
        let Ok(req) = Request::parse(v.to_string().as_bytes()) else { continue };
        let id = id_of(&req);
        if !by_id.contains_key(&id) {
            by_id.insert(id.clone(), out.len());
            out.push(Parked { id, request: v, decision: None });
        }
    }
    Ok(out)
}

/// The short id a person types: stable for the request.
pub fn id_of(r: &Request) -> String {
    r.action_id("parked")[..13].replace('-', "")
}

/// Approve or reject the parked requests `ids` (`approve` true / false).
pub fn decide(
    s: &StreamSettings,
    r: &RespondSettings,
    ids: &[String],
    approve: bool,
    by: &str,
    why: &str,
) -> Result<Vec<String>> {
    if by.trim().is_empty() || why.trim().is_empty() {
        bail!("a decision names who (--by) and why (--reason)");
    }
    let parked = list(s, r)?;
    let mut chosen: Vec<Parked> = Vec::new();
    for id in ids {
        if chosen.iter().any(|c| &c.id == id) {
            continue; // named twice: decided once
        }
        let p = parked
            .iter()
            .find(|p| &p.id == id)
            .with_context(|| format!("no parked request {id:?} (see respond list-parked)"))?;
        if let Some((d, who, _)) = &p.decision {
            bail!("parked request {id} was {d} by {who} already");
        }
        chosen.push(p.clone());
    }
    let producer: BaseProducer = super::kafka::producer_config(s).create().context("cannot create a producer")?;
    let now = crate::model::EventTime(super::kafka::wall_ms().saturating_mul(1000)).to_rfc3339();
    let (what, mut done) = (if approve { "approved" } else { "rejected" }, Vec::new());
    for p in chosen {
        let mut req = p.request.clone();
        if approve {
            req["approved_by"] = json!(by);
            req["approval_reason"] = json!(why);
            req["approved_at"] = json!(now);
            let key = req["key"].as_str().unwrap_or_default().to_string();
            send(&producer, &s.requests_topic, &key, &req.to_string())?;
        }
        // keyed like the parked request, so it lands in its partition, after it
        let decision = json!({ "decision": what, "id": p.id, "by": by, "reason": why, "at": now });
        let pkey = p.request["key"].as_str().unwrap_or(&p.id).to_string();
        send(&producer, &r.parked_topic, &pkey, &decision.to_string())?;
        let audit = json!({
            "time": now, "hook": "person", "action": if approve { "approve" } else { "reject" }, "outcome": what,
            "detail": why, "by": by, "parked_id": p.id, "finding_uid": req.get("finding_uid"), "rule": req.get("rule"),
            "key": req.get("key"), "scope": req.get("scope"),
        });
        send(&producer, &r.audit_topic, &p.id, &audit.to_string())?;
        done.push(p.id);
    }
    producer.flush(Duration::from_secs(30)).context("the decisions were not delivered")?;
    Ok(done)
}

fn send(p: &BaseProducer, topic: &str, key: &str, body: &str) -> Result<()> {
    p.send(BaseRecord::to(topic).key(key).payload(body))
        .map_err(|(e, _)| e)
        .with_context(|| format!("cannot produce to {topic}"))
}

/// Every record of `topic` that is JSON, in (partition, offset) order.
fn read_topic(s: &StreamSettings, topic: &str) -> Result<Vec<Value>> {
    let recs = super::kafka::read_to_end(s, "parked", topic, None).map_err(anyhow::Error::msg)?;
    Ok(recs.into_iter().filter_map(|r| serde_json::from_slice(r.payload.as_deref()?).ok()).collect())
}
