//! Engine and session mechanics: bounded state under a token spray, TTL
//! expiry on watermarks (never at end of input), buffering, watermarks as
//! the minimum over sources, dedup windows that hold in any order.

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

fn engine(max_tokens: usize) -> Session {
    let cfg = EngineConfig {
        allowed_lateness_secs: 5,
        limits: StateLimits { max_tokens, idle_ttl_secs: 3600, exp_margin_secs: 60, ..Default::default() },
        ..Default::default()
    };
    Session::new(rules(), Arc::new(RevocationView::default()), cfg)
}

/// One source, in order: push, then advance (what a simple driver does).
fn feed(s: &mut Session, ev: AccessEvent) -> Vec<Finding> {
    let mut out = Vec::new();
    s.push(0, ev, &mut out);
    s.advance(&mut out);
    out
}

#[test]
fn a_token_spray_cannot_grow_state_past_the_cap() {
    let mut e = engine(100);
    for i in 0..10_000 {
        feed(&mut e, ev(1_000_000 + i as i64 / 100, token(i, None)));
    }
    e.finish(&mut Vec::new());
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
        ..Default::default()
    };
    let mut e = Session::new(rules(), Arc::new(RevocationView::default()), cfg);
    for i in 0..50 {
        feed(&mut e, ev(1_000, token(i, None)));
    }
    for i in 1_000..101_000u64 {
        let mut t = (*token(i, None)).clone();
        t.verdict = Verdict::AlgNone;
        t.origin = Origin::Raw;
        feed(&mut e, ev(1_001, Arc::new(t)));
    }
    e.finish(&mut Vec::new());
    let s = e.stats();
    assert_eq!(s.tracked_tokens, 60, "the 50 real tokens and 10 forgeries");
    assert_eq!(s.evictions.cap, 100_000 - 10);
}

#[test]
fn state_expires_on_watermarks_not_at_end_of_input() {
    let mut e = engine(1000);
    feed(&mut e, ev(1_000, token(1, Some(1_100))));
    feed(&mut e, ev(1_010, token(2, None)));
    e.finish(&mut Vec::new());
    assert_eq!(e.stats().tracked_tokens, 2, "end of input expires nothing");
    // past exp + margin of token 1, not past the idle TTL of token 2
    e.source_watermark(0, EventTime::from_secs(1_200));
    e.advance(&mut Vec::new());
    let s = e.stats();
    assert_eq!((s.tracked_tokens, s.evictions.ttl), (1, 1));
    e.source_watermark(0, EventTime::from_secs(1_010 + 3_601));
    e.advance(&mut Vec::new());
    assert_eq!(e.stats().tracked_tokens, 0);
    assert_eq!(e.stats().evictions.ttl, 2);
}

#[test]
fn events_wait_for_the_watermark() {
    let mut e = engine(10);
    feed(&mut e, ev(100, token(1, None)));
    assert_eq!(e.stats().buffered, 1);
    feed(&mut e, ev(104, token(1, None)));
    assert_eq!(e.stats().buffered, 2, "within the 5 s lateness");
    feed(&mut e, ev(106, token(1, None)));
    assert_eq!(e.stats().buffered, 2, "the first is released");
    e.source_watermark(0, EventTime::from_secs(200));
    e.advance(&mut Vec::new());
    assert_eq!(e.stats().buffered, 0);
}

#[test]
fn the_watermark_is_the_minimum_over_sources() {
    let mut e = engine(10);
    let mut out = Vec::new();
    e.open_source(1); // a partition assigned but not read yet holds everything
    e.push(0, ev(100, token(1, None)), &mut out);
    e.push(0, ev(500, token(1, None)), &mut out);
    e.advance(&mut out);
    assert_eq!(e.stats().buffered, 2, "source 1 has said nothing yet");
    e.push(1, ev(200, token(2, None)), &mut out);
    e.advance(&mut out);
    // source 1 at 200 - 5 s: only the event at 100 s is released
    assert_eq!((e.stats().buffered, e.watermark()), (2, EventTime::from_secs(195)));
    e.end_source(1);
    e.advance(&mut out);
    assert_eq!(e.watermark(), EventTime::from_secs(495), "an ended source holds nothing back");
    assert_eq!(e.stats().late, 0);
    e.push(1, ev(300, token(3, None)), &mut out);
    assert_eq!(e.stats().late, 1, "behind the watermark: late");
    // a repeat of a position already taken is dropped
    e.push_at(2, 7, ev(600, token(4, None)), &mut out);
    e.push_at(2, 7, ev(600, token(4, None)), &mut out);
    assert_eq!(e.stats().duplicates, 1);
}

#[test]
fn a_full_buffer_is_released_oldest_first() {
    let cfg = EngineConfig { max_buffered: 10, ..Default::default() };
    let mut e = Session::new(rules(), Arc::new(RevocationView::default()), cfg);
    let mut out = Vec::new();
    e.open_source(1); // never reports: would hold everything forever
    for i in 0..100 {
        e.push(0, ev(1_000 + i, token(i as u64, None)), &mut out);
        e.advance(&mut out);
    }
    let s = e.stats();
    assert_eq!((s.buffered, s.forced), (10, 90));
    assert_eq!(e.watermark(), EventTime::from_secs(1_089));
}

#[test]
fn dedup_windows_hold_in_any_arrival_order() {
    // ua-drift with 6h dedup: four drifting uses in one window, one in the next
    let ua = |s: &str| Some(crate::model::IStr::from(s));
    let uses = [(0, "Firefox/1 (Linux)"), (60, "curl/8"), (120, "curl/8"), (21_000, "curl/8"), (21_700, "curl/8")];
    let limits = StateLimits { idle_ttl_secs: 100_000, ..Default::default() };
    let cfg = EngineConfig { limits, ..Default::default() };
    let run = |order: &[usize]| {
        let mut e = Session::new(rules(), Arc::new(RevocationView::default()), cfg);
        let mut out = Vec::new();
        for &i in order {
            let mut x = ev(1_800_000_000 + uses[i].0, token(9, None));
            x.user_agent = ua(uses[i].1);
            e.push(0, x, &mut out);
        }
        e.finish(&mut out);
        out.iter().map(|f| f.uid.clone()).collect::<std::collections::BTreeSet<_>>()
    };
    let sorted = run(&[0, 1, 2, 3, 4]);
    assert_eq!(sorted.len(), 2, "one per window: {sorted:?}");
    // late arrivals (a watermark past them all: every event judged as it comes)
    let limits = StateLimits { idle_ttl_secs: 100_000, ..Default::default() };
    let mut late =
        Session::new(rules(), Arc::new(RevocationView::default()), EngineConfig { limits, ..Default::default() });
    let mut out = Vec::new();
    late.source_watermark(0, EventTime::from_secs(1_800_030_000));
    late.advance(&mut out);
    for &i in &[0usize, 4, 3, 2, 1] {
        let mut x = ev(1_800_000_000 + uses[i].0, token(9, None));
        x.user_agent = ua(uses[i].1);
        late.push(0, x, &mut out);
    }
    assert_eq!(late.stats().late, 5);
    let uids: std::collections::BTreeSet<_> = out.iter().map(|f| f.uid.clone()).collect();
    assert_eq!(uids, sorted, "the same uids whatever the order");
}

#[test]
fn finding_uids_are_stable_and_distinct() {
    let t = EventTime::from_secs(5);
    assert_eq!(finding_uid("r", "i|j", t), finding_uid("r", "i|j", t));
    assert_ne!(finding_uid("r", "i|j", t), finding_uid("r2", "i|j", t));
    assert_ne!(finding_uid("r", "i|j", t), finding_uid("r", "i|j", EventTime::from_secs(6)));
    assert_eq!(finding_uid("r", "i|j", t).len(), 36);
}
