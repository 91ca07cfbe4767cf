//! Engine mechanics: bounded state under a token spray, TTL expiry on
//! watermarks (never at end of input), buffering and explicit watermarks.

use std::sync::Arc;

use super::*;
use crate::model::{AccessEvent, EventTime, Origin, SourcePos, TokenId, TokenInfo, TokenKey, Verdict};
use crate::rules::{compile_file, RuleSet};

fn token(i: u64, exp: Option<i64>) -> Arc<TokenInfo> {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    k[8..].copy_from_slice(&i.to_le_bytes());
    let mut t = TokenInfo::bare(
        TokenKey(k),
        TokenId::Jti { iss: "i".into(), jti: i.to_string().into() },
        Verdict::NotChecked,
        Origin::Claims,
    );
    t.iss = Some("i".into());
    t.jti = Some(i.to_string().into());
    t.exp = exp;
    Arc::new(t)
}

fn ev(secs: i64, tok: Arc<TokenInfo>) -> AccessEvent {
    AccessEvent {
        time: EventTime::from_secs(secs),
        client_ip: Some("198.18.1.1".parse().unwrap()),
        user_agent: None,
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        request_id: None,
        gateway: None,
        bytes: None,
        token: Some(tok),
        geo: None,
        source: SourcePos::Test { name: "t".into(), index: secs as u64 },
    }
}

fn rules() -> Arc<RuleSet> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/ua-drift.yml")).unwrap();
    Arc::new(RuleSet::new(vec![compile_file(&text, "ua-drift.yml").unwrap()]))
}

fn engine(max_tokens: usize) -> Engine {
    let cfg = EngineConfig {
        allowed_lateness_secs: 5,
        limits: StateLimits { max_tokens, idle_ttl_secs: 3600, exp_margin_secs: 60, ..Default::default() },
    };
    Engine::new(rules(), Arc::new(RevocationView::default()), cfg)
}

#[test]
fn a_token_spray_cannot_grow_state_past_the_cap() {
    let mut e = engine(100);
    for i in 0..10_000 {
        e.observe(ev(1_000_000 + i as i64 / 100, token(i, None)));
    }
    e.drain();
    let s = e.stats();
    assert_eq!(s.tracked_tokens, 100);
    assert_eq!(s.evictions.cap, 9_900);
    assert_eq!(s.events, 10_000);
}

#[test]
fn a_spray_of_forgeries_cannot_evict_real_tokens() {
    let cfg = EngineConfig {
        allowed_lateness_secs: 5,
        limits: StateLimits { max_tokens: 100, max_untrusted_tokens: 10, idle_ttl_secs: 3600, exp_margin_secs: 60 },
    };
    let mut e = Engine::new(rules(), Arc::new(RevocationView::default()), cfg);
    for i in 0..50 {
        e.observe(ev(1_000, token(i, None)));
    }
    for i in 1_000..101_000u64 {
        let mut t = (*token(i, None)).clone();
        t.verdict = Verdict::AlgNone;
        t.origin = Origin::Raw;
        e.observe(ev(1_001, Arc::new(t)));
    }
    e.drain();
    let s = e.stats();
    assert_eq!(s.tracked_tokens, 60, "the 50 real tokens and 10 forgeries");
    assert_eq!(s.evictions.cap, 100_000 - 10);
}

#[test]
fn state_expires_on_watermarks_not_at_end_of_input() {
    let mut e = engine(1000);
    e.observe(ev(1_000, token(1, Some(1_100))));
    e.observe(ev(1_010, token(2, None)));
    e.drain();
    assert_eq!(e.stats().tracked_tokens, 2, "end of input expires nothing");
    // past exp + margin of token 1, not past the idle TTL of token 2
    e.advance_to(EventTime::from_secs(1_200));
    let s = e.stats();
    assert_eq!((s.tracked_tokens, s.evictions.ttl), (1, 1));
    e.advance_to(EventTime::from_secs(1_010 + 3_601));
    assert_eq!(e.stats().tracked_tokens, 0);
    assert_eq!(e.stats().evictions.ttl, 2);
}

#[test]
fn events_wait_for_the_watermark() {
    let mut e = engine(10);
    e.observe(ev(100, token(1, None)));
    assert_eq!(e.stats().buffered, 1);
    e.observe(ev(104, token(1, None)));
    assert_eq!(e.stats().buffered, 2, "within the 5 s lateness");
    e.observe(ev(106, token(1, None)));
    assert_eq!(e.stats().buffered, 2, "the first is released");
    e.advance_to(EventTime::from_secs(200));
    assert_eq!(e.stats().buffered, 0);
}

#[test]
fn finding_uids_are_stable_and_distinct() {
    let t = EventTime::from_secs(5);
    assert_eq!(finding_uid("r", "i|j", t), finding_uid("r", "i|j", t));
    assert_ne!(finding_uid("r", "i|j", t), finding_uid("r2", "i|j", t));
    assert_ne!(finding_uid("r", "i|j", t), finding_uid("r", "i|j", EventTime::from_secs(6)));
    assert_eq!(finding_uid("r", "i|j", t).len(), 36);
}
