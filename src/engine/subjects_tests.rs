//! Unit tests of the subject baselines (`subjects.rs`).

use super::{BaselineLimits, Baselines, Subject};
use crate::model::{EventTime, IStr, SourcePos, Use};

/// A known subject is learned in one lookup: it must still be counted,
/// and reported changed (the stream's snapshots) after each learn.
#[test]
fn a_known_subject_learned_again_is_counted_and_changed_again() {
    let mut b = Baselines::new(BaselineLimits::default());
    b.track_changes();
    let id = ("https://idp".into(), "alice".into());
    let at = |t: i64, ua: &str| Use {
        time: EventTime::from_secs(t),
        ip: None,
        status: 200,
        user_agent: Some(IStr::from(ua)),
        method: IStr::from("GET"),
        path: IStr::from("/"),
        geo: None,
        source: SourcePos::File { path: IStr::from("f"), line: t as u64 },
    };
    b.learn(&id, &at(1_790_000_000, "curl/8.0"));
    let (changed, _) = b.take_changes();
    assert_eq!(changed.len(), 1);
    assert!(b.take_changes().0.is_empty(), "nothing changed since");
    for (i, ua) in ["Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", "curl/8.0"].into_iter().enumerate() {
        b.learn(&id, &at(1_790_000_100 + i as i64, ua));
        let (changed, _) = b.take_changes();
        assert_eq!(changed.len(), 1, "learn {} of a known subject", i + 2);
        assert_eq!(changed[0].1.uses, i as u32 + 2);
        assert_eq!(changed[0].1.last, 1_790_000_100 + i as i64);
    }
    assert_eq!(b.len(), 1);
    assert_eq!(b.get(&id).unwrap().uses, 3);
}

#[test]
fn a_saved_place_off_the_globe_is_forgotten_on_load() {
    let mut s = Subject { first: 1_790_000_000, last: 1_790_000_100, ..Default::default() };
    let mut v = serde_json::to_value(&s).unwrap();
    v["last_located"] = serde_json::json!([1_790_000_100i64, 1e39, 0.0]);
    v["cities"] = serde_json::json!([{"key": 7, "weight": 1.0, "first": 1, "last": 2, "at": [32000, 32000]}]);
    s = serde_json::from_value(v).unwrap();
    assert!(s.last_located.unwrap().1.is_infinite(), "1e39 reads as an infinite f32");
    s.sanitize();
    assert_eq!(s.last_located, None);
    assert_eq!(s.cities[0].at(), None);
}
