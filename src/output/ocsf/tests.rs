//! The alert written straight from the finding is the bytes of its `Value`
//! (whose map sorts keys: every typed struct declares its fields in order),
//! and the bytes the builder before it wrote (`before`): every optional
//! part is drawn present and absent.

mod before;

use std::net::IpAddr;
use std::sync::Arc;

use proptest::prelude::*;

use super::{ocsf_bytes, ocsf_json};
use crate::model::{
    EventTime, Evidence, Finding, Geo, Origin, Response, Severity, Side, SourcePos, TokenId, TokenInfo, TokenKey, Use,
    Verdict,
};

fn text() -> impl Strategy<Value = Option<Arc<str>>> {
    proptest::option::of("[a-z\"\\\\é\u{1}]{0,6}".prop_map(|s| Arc::from(s.as_str())))
}

fn geo() -> impl Strategy<Value = Option<Arc<Geo>>> {
    let parts = (
        text(),
        text(),
        any::<Option<u32>>(),
        text(),
        proptest::option::of(prop_oneof![-90.0f64..90.0, Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)]),
        any::<bool>(),
    );
    proptest::option::of(parts.prop_map(|(city, country, asn, as_org, lat, lon)| {
        Arc::new(Geo {
            lat,
            lon: lat.filter(|_| lon).map(|l| l / 2.0),
            radius_km: 10.0,
            city,
            country,
            asn,
            as_org,
            anonymizer: 0,
        })
    }))
}

fn evidence() -> impl Strategy<Value = Evidence> {
    let ip = proptest::option::of(prop_oneof![Just("192.0.2.7"), Just("2001:db8::1"), Just("192.0.2.7")]);
    let method = prop_oneof![Just("GET"), Just("POST"), Just("BREW"), Just("")];
    (ip, geo(), text(), method, any::<u16>(), -1i64..4_102_444_800_000_000, 0u64..9).prop_map(
        |(ip, geo, ua, method, status, us, line)| Evidence {
            role: "use",
            side: Side::Owner,
            used: Arc::new(Use {
                time: EventTime(us),
                ip: ip.map(|s| s.parse::<IpAddr>().unwrap()),
                status,
                user_agent: ua.map(|s| (&*s).into()),
                method: method.into(),
                path: "/api/x".into(),
                geo,
                source: SourcePos::File { path: "a.log".into(), line },
            }),
        },
    )
}

fn token() -> impl Strategy<Value = TokenInfo> {
    let verdict = prop_oneof![
        Just(Verdict::Valid),
        Just(Verdict::NotChecked),
        Just(Verdict::BadSignature),
        Just(Verdict::AlgNone)
    ];
    let claims = (text(), text(), text(), text(), any::<Option<i64>>(), any::<Option<i64>>());
    (verdict, any::<bool>(), any::<bool>(), claims).prop_map(
        |(verdict, vouched, jti_id, (jti, iss, sub, client, exp, iat))| {
            let id = match (&iss, &jti) {
                (Some(i), Some(j)) if jti_id => TokenId::Jti { iss: i.clone(), jti: j.clone() },
                _ => TokenId::Fingerprint("0f".into()),
            };
            let mut t = TokenInfo::bare(TokenKey([7; 16]), id, verdict, Origin::Raw);
            (t.jti, t.iss, t.sub, t.client_id, t.exp, t.iat, t.vouched) = (jti, iss, sub, client, exp, iat, vouched);
            t
        },
    )
}

fn finding() -> impl Strategy<Value = Finding> {
    let sev = prop_oneof![Just(Severity::Informational), Just(Severity::Medium), Just(Severity::Critical)];
    let resp = prop_oneof![Just(Response::Alert), Just(Response::RevokeToken), Just(Response::RevokeSubject)];
    let techniques = proptest::collection::vec(prop_oneof![Just("T1550.001"), Just("T1606"), Just("T9999")], 0..3);
    let evidence = proptest::collection::vec(evidence(), 0..4);
    (token(), sev, resp, techniques, evidence, 0u8..6, "[a-z\"]{0,8}", any::<Option<f64>>()).prop_map(
        |(t, severity, response, techniques, evidence, confidence, message, km)| {
            let mut details = serde_json::Map::new();
            if let Some(km) = km {
                details.insert("distance_km".into(), km.into());
                details.insert("alg".into(), "RS256".into());
            }
            Finding {
                uid: "u-1".into(),
                rule_id: "rule".into(),
                rule_title: "Rule \"x\"".into(),
                severity,
                techniques: techniques.into_iter().map(String::from).collect::<Vec<_>>().into(),
                response,
                time: EventTime(1_793_606_400_000_000),
                token: Arc::new(t),
                message,
                confidence,
                evidence,
                details,
                risk: None,
            }
        },
    )
}

proptest! {
    #[test]
    fn typed_alert_is_the_value_s_bytes(f in finding()) {
        let typed = String::from_utf8(ocsf_bytes(&f, "9.9.9")).unwrap();
        prop_assert_eq!(&typed, &ocsf_json(&f, "9.9.9").to_string());
        prop_assert_eq!(&typed, &before::ocsf_json_before(&f, "9.9.9").to_string());
    }
}

#[test]
fn an_alert_without_optional_parts_drops_them() {
    let t = TokenInfo::bare(TokenKey([1; 16]), TokenId::Fingerprint("ab".into()), Verdict::AlgNone, Origin::Raw);
    let f = Finding {
        uid: "u".into(),
        rule_id: "forged-token".into(),
        rule_title: "t".into(),
        severity: Severity::High,
        techniques: Vec::new().into(),
        response: Response::Alert,
        time: EventTime(0),
        token: Arc::new(t),
        message: String::new(),
        confidence: 3,
        evidence: Vec::new(),
        details: serde_json::Map::new(),
        risk: None,
    };
    let v: serde_json::Value = serde_json::from_slice(&ocsf_bytes(&f, "1")).unwrap();
    assert!(v.get("remediation").is_none());
    assert_eq!(v["actor"], serde_json::json!({ "session": { "uid": "fp:ab" } }));
    assert_eq!(
        v["unmapped"]["tokenhound"]["claimed"],
        serde_json::json!({ "client_id": null, "iss": null, "jti": null, "sub": null })
    );
    assert_eq!(v["observables"].as_array().unwrap().len(), 1);
}
