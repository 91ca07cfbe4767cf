//! The events topic's formats: v2 round trips every event and marks record,
//! v1 JSON is still read, and no byte string makes decoding panic.

use std::net::IpAddr;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::model::{Geo, IStr, Origin, SourcePos, TokenId, TokenInfo, TokenKey, Verdict};

pub(super) fn event(ua: &str) -> AccessEvent {
    AccessEvent {
        time: EventTime(1_790_000_000_123_456),
        client_ip: Some("198.18.1.10".parse().unwrap()),
        user_agent: Some(IStr::from(ua)),
        method: IStr::from("GET"),
        path: IStr::from("/v1/\"quoted\"\\path"),
        status: 200,
        request_id: Some("r-1".into()),
        gateway: None,
        bytes: Some(512),
        token: Some(Arc::new(TokenInfo {
            key: TokenKey([7; 16]),
            id: TokenId::Jti { iss: "https://idp".into(), jti: "j-1".into() },
            jti: Some("j-1".into()),
            iss: Some("https://idp".into()),
            sub: Some("alice".into()),
            client_id: None,
            aud: Some("api".into()),
            kid: Some("k1".into()),
            alg: Some("RS256".into()),
            exp: Some(1_790_000_900),
            iat: Some(1_790_000_000),
            nbf: None,
            verdict: Verdict::Valid,
            detail: None,
            origin: Origin::Raw,
            vouched: true,
            sha256: Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into()),
        })),
        geo: Some(Arc::new(Geo { lat: Some(51.5), lon: Some(-0.12), radius_km: 10.0, ..Default::default() })),
        source: SourcePos::Kafka { topic: IStr::from("gw"), partition: 3, offset: 42 },
    }
}

pub(super) fn back(bytes: &[u8]) -> (AccessEvent, u32) {
    let mut strings = Interner::new(16);
    match decode(bytes, &mut strings).unwrap() {
        Record::Event(ev, i) => (ev, i),
        _ => panic!("an event"),
    }
}

#[test]
fn round_trip_keeps_every_field_even_with_escapes() {
    let ev = event("Mozilla/5.0 \"quoted\" \u{1F600}\t");
    for bytes in [to_vec(&ev, 3), json::encode(&ev, 3)] {
        let (b, i) = back(&bytes);
        assert_eq!((b.clone(), i), (ev.clone(), 3));
        assert_eq!(b.token.as_ref().unwrap().key, ev.token.as_ref().unwrap().key);
        // a vouched subject's tokens share a partition
        assert_eq!(key(&b).as_deref(), Some("%s|https://idp|alice"));
    }
    assert_eq!(to_vec(&ev, 3)[..2], [2, 1], "version 2, an event");
    assert!(to_vec(&ev, 3).len() * 2 < json::encode(&ev, 3).len(), "binary is compact");
}

#[test]
fn a_reused_buffer_is_cleared_and_the_key_matches() {
    let (a, b) = (event("a"), event(&"long agent ".repeat(20)));
    let mut buf = Vec::new();
    encode(&b, 1, &mut buf);
    encode(&a, 0, &mut buf);
    assert_eq!(buf, to_vec(&a, 0));
    encode_marks(&[("gw/0".into(), EventTime(1))], &mut buf);
    assert_eq!(buf, marks_to_vec(&[("gw/0".into(), EventTime(1))]));
    let mut k = String::from("stale");
    assert!(key_into(&a, &mut k));
    assert_eq!(Some(k), key(&a));
    let weird = AccessEvent {
        token: Some(Arc::new(TokenInfo::bare(
            TokenKey([1; 16]),
            TokenId::Jti { iss: "a|b%".into(), jti: "\n".into() },
            Verdict::Malformed,
            Origin::Claims,
        ))),
        ..a.clone()
    };
    let mut k = String::new();
    assert!(key_into(&weird, &mut k));
    assert_eq!(Some(k.clone()), key(&weird));
    assert!(!key_into(&AccessEvent { token: None, ..a }, &mut k));
}

#[test]
fn interned_strings_are_cut_like_the_interner_cuts() {
    let long = "é".repeat(STR_MAX); // 2 bytes each
    let ev = AccessEvent { path: IStr::from(long.as_str()), ..event("x") };
    let (b, _) = back(&to_vec(&ev, 0));
    assert_eq!(b.path.len(), STR_MAX);
    assert!(long.starts_with(&*b.path));
    let (b1, _) = back(&json::encode(&ev, 0));
    assert_eq!(b1.path, b.path, "v1 and v2 agree");
}

#[test]
fn bad_v1_records_are_errors_not_panics() {
    let mut s = Interner::new(16);
    assert!(matches!(decode(b"{", &mut s), Err(WireError::Json(_))));
    let mut v: serde_json::Value = serde_json::from_slice(&json::encode(&event("x"), 0)).unwrap();
    v["v"] = 9.into();
    assert!(matches!(decode(v.to_string().as_bytes(), &mut s), Err(WireError::Version(9))));
    v["v"] = 1.into();
    v["token"]["key"] = "zz".into();
    assert!(matches!(decode(v.to_string().as_bytes(), &mut s), Err(WireError::Key)));
    let marks = vec![("gw/0".to_string(), EventTime(5)), ("gw/1".to_string(), EventTime::MIN)];
    for bytes in [json::encode_marks(&marks), marks_to_vec(&marks)] {
        let Record::Marks(back) = decode(&bytes, &mut s).unwrap() else { panic!("marks") };
        assert_eq!(back, marks);
    }
}

#[test]
fn an_unknown_version_says_which_versions_this_build_reads() {
    let mut s = Interner::new(16);
    let mut rec = to_vec(&event("x"), 0);
    rec[0] = 4;
    let e = decode(&rec, &mut s).unwrap_err();
    assert!(matches!(e, WireError::Version(4)), "{e:?}");
    assert_eq!(e.kind(), "unsupported_event_version");
    let msg = e.to_string();
    assert!(msg.starts_with("unsupported events-topic format version 4 (this build reads 1, 2 and 3): "), "{msg}");
    assert!(msg.contains("newer tokenhound"), "{msg}");
    let e = decode(b"\x00garbage", &mut s).unwrap_err();
    assert!(matches!(e, WireError::Version(0)), "{e:?}");
    assert!(matches!(decode(b"", &mut s), Err(WireError::Empty)));
}

#[test]
fn bad_v2_records_name_what_was_wrong() {
    let mut s = Interner::new(16);
    let mut err = |b: &[u8]| decode(b, &mut s).unwrap_err().to_string();
    let rec = to_vec(&event("x"), 0);
    assert_eq!(err(&rec[..rec.len() - 1]), "truncated record: it ends inside lon");
    let mut long = rec.clone();
    long.extend_from_slice(b"xy");
    assert_eq!(err(&long), "2 trailing bytes after the end of the record");
    assert_eq!(err(&[2, 7]), "unknown record kind 7 in a version 2 record");
    // a hostile length or count: an error, no allocation of that size
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let marks: Vec<u8> = [&[2, 2][..], &huge, &[1, b'a', 0]].concat();
    assert_eq!(err(&marks), "truncated record: it ends inside watermark source");
    let string: Vec<u8> = [&[2, 1, 0, 0, 0][..], &huge, b"GET"].concat();
    assert_eq!(err(&string), "truncated record: it ends inside method");
    assert_eq!(err(&[2, 1, 0, 0, 0, 1, 0xff]), "method is not valid UTF-8");
    assert_eq!(
        err(&[2, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]),
        "malformed varint in batch index (more than 64 bits)"
    );
    assert_eq!(err(&[2, 1, 0x80, 0x80, 0x80, 0x80, 0x10]), "batch index out of range: 4294967296");
    assert_eq!(err(&[2, 1, 0, 0, 0x80, 0x40]), "unknown or contradictory bits 0x2000 in event flags");
    assert_eq!(err(&[2, 1, 0, 0, 3]), "unknown or contradictory bits 0x3 in event flags");
}

fn text() -> impl Strategy<Value = String> {
    // any char: controls, quotes, non-BMP
    prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter)
}

fn shared() -> impl Strategy<Value = Option<Arc<str>>> {
    prop::option::of(text().prop_map(Arc::from))
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1), any::<i64>()]
}

fn token() -> impl Strategy<Value = TokenInfo> {
    let id = prop_oneof![
        (text(), text()).prop_map(|(i, j)| TokenId::Jti { iss: i.into(), jti: j.into() }),
        text().prop_map(|f| TokenId::Fingerprint(f.into())),
    ];
    let verdicts = prop::sample::select(binary_verdicts());
    let origin = prop_oneof![Just(Origin::Raw), Just(Origin::Claims)];
    let claims = (shared(), shared(), shared(), shared(), shared(), shared(), shared(), shared());
    let nums = (prop::option::of(int()), prop::option::of(int()), prop::option::of(int()));
    // the jti / iss claims are the identity's (as usual), or their own
    let same = (any::<bool>(), any::<bool>());
    (any::<[u8; 16]>(), id, verdicts, origin, claims, nums, same, shared(), any::<bool>()).prop_map(
        |(
            key,
            id,
            verdict,
            origin,
            (jti, iss, sub, client_id, aud, kid, alg, detail),
            (exp, iat, nbf),
            same,
            sha256,
            vouched,
        )| {
            let (id_iss, id_jti) = match &id {
                TokenId::Jti { iss, jti } => (Some(iss.clone()), Some(jti.clone())),
                TokenId::Fingerprint(_) => (None, None),
            };
            TokenInfo {
                key: TokenKey(key),
                jti: if same.0 { id_jti.or(jti) } else { jti },
                iss: if same.1 { id_iss.or(iss) } else { iss },
                id,
                sub,
                client_id,
                aud,
                kid,
                alg,
                exp,
                iat,
                nbf,
                verdict,
                detail,
                origin,
                vouched,
                sha256,
            }
        },
    )
}

fn binary_verdicts() -> Vec<Verdict> {
    vec![
        Verdict::NotChecked,
        Verdict::Valid,
        Verdict::BadSignature,
        Verdict::UnknownKid,
        Verdict::AlgNone,
        Verdict::AlgNotAllowed,
        Verdict::Malformed,
    ]
}

fn geo() -> impl Strategy<Value = Geo> {
    // any place the engine can measure with (others are refused: below)
    let f = |lim: f64| prop_oneof![-lim..=lim, Just(-0.0), Just(f64::MIN_POSITIVE), Just(lim), Just(-lim)];
    let radius = prop_oneof![0.0..=20_000.0, Just(-0.0), Just(crate::model::MAX_RADIUS_KM)];
    let anon = prop_oneof![Just(0u8), 1u8..=crate::model::anon::ALL];
    (
        prop::option::of(f(90.0)),
        prop::option::of(f(180.0)),
        radius,
        shared(),
        shared(),
        prop::option::of(any::<u32>()),
        shared(),
        anon,
    )
        .prop_map(|(lat, lon, radius_km, city, country, asn, as_org, anonymizer)| Geo {
            lat,
            lon,
            radius_km,
            city,
            country,
            asn,
            as_org,
            anonymizer,
        })
}

fn istr() -> impl Strategy<Value = IStr> {
    text().prop_map(|s| IStr::from(s.as_str()))
}

fn source() -> impl Strategy<Value = SourcePos> {
    prop_oneof![
        (istr(), any::<i32>(), int()).prop_map(|(topic, partition, offset)| SourcePos::Kafka {
            topic,
            partition,
            offset
        }),
        (istr(), any::<u64>()).prop_map(|(path, line)| SourcePos::File { path, line }),
    ]
}

pub(super) fn access_event() -> impl Strategy<Value = AccessEvent> {
    let head = (int(), prop::option::of(any::<IpAddr>()), prop::option::of(istr()), istr(), istr(), any::<u16>());
    let rest = (shared(), prop::option::of(istr()), prop::option::of(any::<u64>()));
    let parts = (prop::option::of(token()), prop::option::of(geo()), source());
    (head, rest, parts).prop_map(
        |((time, client_ip, user_agent, method, path, status), (request_id, gateway, bytes), (token, geo, source))| {
            AccessEvent {
                time: EventTime(time),
                client_ip,
                user_agent,
                method,
                path,
                status,
                request_id,
                gateway,
                bytes,
                token: token.map(Arc::new),
                geo: geo.map(Arc::new),
                source,
            }
        },
    )
}

#[test]
fn a_place_off_the_globe_is_refused_by_both_versions() {
    let nan = f64::NAN;
    for (lat, lon, radius, field) in [
        (51.5, 0.1, nan, "radius_km"),
        (51.5, 0.1, -1.0, "radius_km"),
        (51.5, 0.1, f64::INFINITY, "radius_km"),
        (nan, 0.1, 10.0, "lat"),
        (90.5, 0.1, 10.0, "lat"),
        (51.5, -181.0, 10.0, "lon"),
        (51.5, f64::NEG_INFINITY, 10.0, "lon"),
    ] {
        let mut ev = event("ua");
        ev.geo = Some(Arc::new(Geo { lat: Some(lat), lon: Some(lon), radius_km: radius, ..Default::default() }));
        let mut strings = Interner::new(16);
        match decode(&to_vec(&ev, 0), &mut strings) {
            Err(e @ WireError::Range(f, _)) if f == field => assert_eq!(e.kind(), "bad_event"),
            other => panic!("{lat} {lon} {radius}: {:?}", other.map(|_| ())),
        }
        // v1 JSON has no NaN or infinity (serde_json writes null): refused,
        // or read as no coordinate; never a place off the globe
        match decode(&json::encode(&ev, 0), &mut strings) {
            Ok(Record::Event(b, _)) => assert_eq!(b.geo.unwrap().out_of_range(), None, "{lat} {lon} {radius}"),
            Ok(_) => panic!("an event"),
            Err(e) => assert_eq!(e.kind(), "bad_event"),
        }
    }
}

fn marks() -> impl Strategy<Value = Vec<(String, EventTime)>> {
    prop::collection::vec((text(), int().prop_map(EventTime)), 0..6)
}

fn no_nan(ev: &AccessEvent) -> bool {
    ev.geo.as_ref().is_none_or(|g| [g.lat, g.lon, Some(g.radius_km)].into_iter().flatten().all(|x| !x.is_nan()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_event_round_trips(ev in access_event(), index in any::<u32>()) {
        let bytes = to_vec(&ev, index);
        let (b, i) = back(&bytes);
        prop_assert_eq!(i, index);
        // NaN != NaN: the bytes say it came back bit for bit
        prop_assert_eq!(to_vec(&b, i), bytes);
        if no_nan(&ev) {
            prop_assert_eq!(b, ev);
        }
    }

    #[test]
    fn every_marks_record_round_trips(m in marks()) {
        let mut s = Interner::new(16);
        let Ok(Record::Marks(b)) = decode(&marks_to_vec(&m), &mut s) else { panic!("marks") };
        prop_assert_eq!(b, m);
    }

    #[test]
    fn every_truncation_is_an_error(ev in access_event(), m in marks()) {
        let mut s = Interner::new(16);
        for rec in [to_vec(&ev, 7), marks_to_vec(&m)] {
            for n in 0..rec.len() {
                let e = decode(&rec[..n], &mut s).unwrap_err();
                prop_assert!(matches!(e, WireError::Truncated(_) | WireError::Empty), "{e}");
            }
        }
    }

    #[test]
    fn a_flipped_byte_never_panics(ev in access_event(), at in any::<prop::sample::Index>(), x in 1..=255u8) {
        let mut rec = to_vec(&ev, 1);
        let at = at.index(rec.len());
        rec[at] ^= x;
        let _ = decode(&rec, &mut Interner::new(16));
    }

    #[test]
    fn arbitrary_bytes_never_panic(kind in 0..4u8, body in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut s = Interner::new(16);
        let _ = decode(&body, &mut s);
        let rec: Vec<u8> = [&[2, kind][..], &body].concat();
        let _ = decode(&rec, &mut s);
        let _ = decode(&[b"{\"v\":1,".as_slice(), &body].concat(), &mut s);
    }
}
