//! Version 3 packs: every pack round trips, a bad entry costs only itself,
//! a cut pack keeps the entries before the cut, nothing panics, and the
//! partition of a key is librdkafka's.

use proptest::prelude::*;

use super::pack::{Pack, VERSION};
use super::tests::{access_event, event};
use super::*;

fn pack_of(evs: &[(AccessEvent, u32)]) -> Vec<u8> {
    let (mut p, mut scratch) = (Pack::default(), Vec::new());
    for (ev, i) in evs {
        p.push(ev, *i, &mut scratch);
    }
    assert_eq!(p.events(), evs.len());
    p.bytes().to_vec()
}

/// The events as their v2 records (NaN != NaN: compare bytes).
fn records(evs: &[(AccessEvent, u32)]) -> Vec<Vec<u8>> {
    evs.iter().map(|(e, i)| to_vec(e, *i)).collect()
}

fn entry(rec: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    super::binary::put_u(&mut v, rec.len() as u64);
    v.extend_from_slice(rec);
    v
}

#[test]
fn a_bad_entry_costs_only_itself_and_is_named() {
    let good = [(event("a"), 0), (event("b"), 3)];
    let mut bad_v2 = to_vec(&event("c"), 1);
    bad_v2.truncate(bad_v2.len() - 2);
    let mut newer = to_vec(&event("d"), 0);
    newer[0] = 9;
    let rec: Vec<u8> = [
        vec![VERSION],
        entry(&to_vec(&good[0].0, 0)),
        entry(&bad_v2),
        entry(&marks_to_vec(&[("gw/0".into(), EventTime(5))])),
        entry(&newer),
        entry(&to_vec(&good[1].0, 3)),
    ]
    .concat();
    let (mut s, mut out) = (Interner::new(16), Vec::new());
    let e = decode_events(&rec, &mut s, &mut out).unwrap_err();
    assert_eq!(records(&out), records(&good), "the good entries, in order");
    assert_eq!(e.to_string(), "entry 1 of a pack (and 2 more bad entries: 2, 3): truncated record: it ends inside lon");
    assert_eq!(e.kind(), "bad_event");
    assert!(decode(&rec, &mut s).is_err(), "decode wants a whole pack");
    // an entry of another version inside a pack of this one is corruption,
    // not a newer writer (that one would write a newer pack)
    let rec: Vec<u8> = [vec![VERSION], entry(&newer)].concat();
    let e = decode_events(&rec, &mut s, &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), "bad_event", "{e}");
    let rec: Vec<u8> = [vec![VERSION], entry(&marks_to_vec(&[]))].concat();
    let e = decode_events(&rec, &mut s, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("a watermark record, not an event"), "{e}");
    let e = decode_events(&[VERSION], &mut s, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("no events"), "{e}");
    // a length past the end: the read stops there
    let rec: Vec<u8> = [vec![VERSION], entry(&to_vec(&good[0].0, 0)), vec![0x7f, 2, 1]].concat();
    let mut out = Vec::new();
    let e = decode_events(&rec, &mut s, &mut out).unwrap_err();
    assert_eq!(
        (out.len(), e.to_string()),
        (1, "entry 1 of a pack: truncated record: it ends inside pack entry".into())
    );
}

/// What the dead-letter topic keeps of a pack with bad entries: a pack of
/// exactly those entries, framed again, none of the good events beside them
/// (they belong to other subjects, and were judged).
#[test]
fn the_dead_letter_of_a_pack_is_its_bad_entries() {
    let good = [to_vec(&event("a"), 0), to_vec(&event("b"), 3)];
    let mut cut = to_vec(&event("c"), 1);
    cut.truncate(cut.len() - 2);
    let marks = marks_to_vec(&[("gw/0".into(), EventTime(5))]);
    let rec: Vec<u8> = [vec![VERSION], entry(&good[0]), entry(&cut), entry(&good[1]), entry(&marks)].concat();
    let e = decode_events(&rec, &mut Interner::new(16), &mut Vec::new()).unwrap_err();
    let WireError::Pack { spans, .. } = &e else { panic!("{e}") };
    assert_eq!(pack::bad_entries(&rec, spans), [vec![VERSION], entry(&cut), entry(&marks)].concat());
    // a frame that cannot be read: the rest of the record, framed
    let tail = vec![0x7f, 2, 1];
    let rec: Vec<u8> = [vec![VERSION], entry(&good[0]), tail.clone()].concat();
    let e = decode_events(&rec, &mut Interner::new(16), &mut Vec::new()).unwrap_err();
    let WireError::Pack { spans, .. } = &e else { panic!("{e}") };
    let dead = pack::bad_entries(&rec, spans);
    assert_eq!(dead, [vec![VERSION], entry(&tail)].concat());
    // and it reads as a pack again: the same error, no event
    let mut out = Vec::new();
    let again = decode_events(&dead, &mut Interner::new(16), &mut out).unwrap_err();
    assert!(out.is_empty() && again.to_string().contains("entry 0 of a pack"), "{again}");
    assert!(pack::bad_entries(&rec, &[(2, 99_999)]) == [VERSION], "a span outside the record is skipped");
    // a record of 300 000 one-byte bad entries: every one counted, the
    // first 64 KiB of them kept
    let rec: Vec<u8> = [vec![VERSION], [1u8, 0].repeat(300_000)].concat();
    let e = decode_events(&rec, &mut Interner::new(16), &mut Vec::new()).unwrap_err();
    let WireError::Pack { more, spans, others, .. } = &e else { panic!("{e}") };
    assert_eq!((*more, spans.len()), (299_999, 64 * 1024));
    // the first 16 other numbers named, the rest counted
    assert_eq!(&others[..], (1..=16).collect::<Vec<_>>());
    assert!(e.to_string().starts_with("entry 0 of a pack (and 299999 more bad entries: 1, 2, 3, 4,"), "{e}");
    assert!(e.to_string().contains("15, 16, ...): "), "{e}");
    // exactly as many others as are named: no "..."
    let rec: Vec<u8> = [vec![VERSION], [1u8, 0].repeat(17)].concat();
    let e = decode_events(&rec, &mut Interner::new(16), &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("(and 16 more bad entries: 1, 2,") && e.to_string().contains(", 16): "), "{e}");
}

#[test]
fn a_cleared_pack_starts_over() {
    let (mut p, mut scratch) = (Pack::default(), Vec::new());
    assert!(p.is_empty());
    p.push(&event("a"), 0, &mut scratch);
    let one = p.bytes().to_vec();
    p.push(&event("b"), 1, &mut scratch);
    p.clear();
    assert!(p.is_empty() && p.len() == 1);
    p.push(&event("a"), 0, &mut scratch);
    assert_eq!(p.bytes(), one);
}

#[test]
fn a_pack_that_would_pass_its_limit_says_so_before() {
    let (mut p, rec) = (Pack::default(), to_vec(&event(&"u".repeat(3000)), 0));
    assert!(!p.full_for(&vec![0; super::pack::MAX_BYTES * 2]), "an empty pack takes even a huge event");
    let mut n = 0;
    while !p.full_for(&rec) {
        p.push_record(&rec);
        n += 1;
    }
    assert!(p.len() <= super::pack::MAX_BYTES && p.len() + rec.len() > super::pack::MAX_BYTES - 10, "{n} {}", p.len());
    let mut out = Vec::new();
    decode_events(p.bytes(), &mut Interner::new(16), &mut out).unwrap();
    assert_eq!(out.len(), n);
}

/// A pack repeats a token's and a place's bytes: the reader shares what it
/// decoded from the same bytes, and decodes anew when any byte differs
/// (the same key with another verdict, the same address with another place).
#[test]
fn repeated_tokens_and_places_are_shared_and_changed_ones_read_anew() {
    use std::sync::Arc;
    let a = event("a");
    let mut b = event("b");
    let mut t = (**b.token.as_ref().unwrap()).clone();
    t.verdict = crate::model::Verdict::BadSignature;
    b.token = Some(Arc::new(t));
    let mut c = event("c");
    c.geo =
        Some(Arc::new(crate::model::Geo { lat: Some(48.8), lon: Some(2.35), radius_km: 5.0, ..Default::default() }));
    let evs = [(a.clone(), 0), (a.clone(), 1), (b.clone(), 0), (c.clone(), 0), (a, 2)];
    let (mut s, mut out) = (Interner::new(16), Vec::new());
    decode_events(&pack_of(&evs), &mut s, &mut out).unwrap();
    assert_eq!(records(&out), records(&evs), "every value is what its own bytes say");
    let tok = |i: usize| out[i].0.token.clone().unwrap();
    let geo = |i: usize| out[i].0.geo.clone().unwrap();
    assert!(Arc::ptr_eq(&tok(0), &tok(1)) && Arc::ptr_eq(&geo(0), &geo(1)), "the same bytes: shared");
    assert!(!Arc::ptr_eq(&tok(0), &tok(2)), "same key, other verdict: read anew");
    assert!(Arc::ptr_eq(&geo(0), &geo(2)));
    assert!(!Arc::ptr_eq(&geo(0), &geo(3)), "same address, other place: read anew");
    assert_eq!(out[4].0.token.as_ref().unwrap().verdict, crate::model::Verdict::Valid);
}

#[test]
fn the_partition_of_a_key_is_crc32_like_librdkafka() {
    // CRC-32 of "123456789" is 0xCBF43926 (the check value of the standard)
    assert_eq!(partition_for(b"123456789", i32::MAX), (0xCBF4_3926u32 % i32::MAX as u32) as i32);
    assert_eq!(partition_for(b"123456789", 7), (0xCBF4_3926u32 % 7) as i32);
    assert_eq!(partition_for(b"anything", 1), 0);
    assert_eq!(partition_for(b"anything", 0), 0, "no partitions known is not a division by zero");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_pack_round_trips(evs in prop::collection::vec((access_event(), any::<u32>()), 1..12)) {
        let rec = pack_of(&evs);
        let (mut s, mut out) = (Interner::new(64), Vec::new());
        prop_assert!(decode_events(&rec, &mut s, &mut out).unwrap().is_none());
        prop_assert_eq!(records(&out), records(&evs));
        let Ok(Record::Pack(back)) = decode(&rec, &mut s) else { panic!("a pack") };
        prop_assert_eq!(records(&back), records(&evs));
    }

    #[test]
    fn a_cut_pack_keeps_the_whole_entries_before_the_cut(
        evs in prop::collection::vec((access_event(), any::<u32>()), 1..5),
    ) {
        let rec = pack_of(&evs);
        let want = records(&evs);
        // where each entry ends: a cut there is a shorter pack, elsewhere an error
        let mut ends = vec![];
        let mut at = 1;
        for r in &want {
            at += entry(r).len();
            ends.push(at);
        }
        let mut s = Interner::new(64);
        for n in 2..rec.len() {
            let mut out = Vec::new();
            let read = decode_events(&rec[..n], &mut s, &mut out);
            let got = records(&out);
            prop_assert!(got.len() < want.len() && got[..] == want[..got.len()]);
            match ends.iter().position(|e| *e == n) {
                Some(k) => prop_assert!(read.is_ok() && got.len() == k + 1),
                None => prop_assert!(matches!(read, Err(WireError::Pack { .. })), "a cut inside an entry"),
            }
        }
    }

    #[test]
    fn no_pack_bytes_panic(evs in prop::collection::vec((access_event(), any::<u32>()), 1..4),
                           at in any::<prop::sample::Index>(), x in 1..=255u8,
                           body in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut rec = pack_of(&evs);
        let at = at.index(rec.len() - 1) + 1;
        rec[at] ^= x;
        let mut s = Interner::new(16);
        let _ = decode_events(&rec, &mut s, &mut Vec::new());
        let _ = decode_events(&[&[VERSION][..], &body].concat(), &mut s, &mut Vec::new());
    }
}
