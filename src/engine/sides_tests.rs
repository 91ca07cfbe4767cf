//! The side each detector gives its evidence (owner, or the other side and
//! what sets it apart): what `investigate` attributes by, so each rule's
//! roles are pinned here with the shipped rules.

use std::sync::Arc;

use super::*;
use crate::model::{
    AccessEvent, Apart, EventTime, Geo, Origin, Side, SourcePos, TokenId, TokenInfo, TokenKey, Verdict,
};
use crate::model::{RevocationView, Revoked};

fn token(jti: &str, exp: Option<i64>) -> Arc<TokenInfo> {
    let mut k = [7u8; 16];
    k[..jti.len().min(16)].copy_from_slice(&jti.as_bytes()[..jti.len().min(16)]);
    let id = TokenId::Jti { iss: "i".into(), jti: jti.into() };
    let mut t = TokenInfo::bare(TokenKey(k), id, Verdict::NotChecked, Origin::Claims);
    t.iss = Some("i".into());
    t.jti = Some(jti.into());
    t.exp = exp;
    Arc::new(t)
}

/// (lat, lon, country, asn)
type At = (f64, f64, &'static str, Option<u32>);
const BERLIN: At = (52.52, 13.4, "DE", Some(64501));
const BUCHAREST: At = (44.43, 26.1, "RO", Some(64520));
const LONDON: At = (51.51, -0.09, "GB", None);
const SINGAPORE: At = (1.34, 103.77, "SG", None);

fn ev(secs: i64, jti: &str, ip: &str, ua: &str, at: At, exp: Option<i64>) -> AccessEvent {
    AccessEvent {
        time: EventTime::from_secs(secs),
        client_ip: Some(ip.parse().unwrap()),
        user_agent: Some(ua.into()),
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        request_id: None,
        gateway: None,
        bytes: None,
        token: Some(token(jti, exp)),
        geo: Some(Arc::new(Geo {
            lat: Some(at.0),
            lon: Some(at.1),
            radius_km: 5.0,
            city: None,
            country: Some(at.2.into()),
            asn: at.3,
            as_org: None,
            anonymizer: 0,
        })),
        source: SourcePos::Test { name: "t".into(), index: secs as u64 },
    }
}

/// The findings of rule `rule` over the events, with the roles and sides of their evidence.
fn sides(rule: &str, events: Vec<AccessEvent>, revs: RevocationView) -> Vec<Vec<(&'static str, Side)>> {
    let rules = Arc::new(crate::rules::load_builtin().unwrap());
    let mut s = Session::new(rules, Arc::new(revs), EngineConfig::default());
    let mut out = Vec::new();
    for e in events {
        s.push(0, e, &mut out);
    }
    s.finish(&mut out);
    out.iter().filter(|f| &*f.rule_id == rule).map(|f| f.evidence.iter().map(|e| (e.role, e.side)).collect()).collect()
}

const FF: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0";
const T0: i64 = 1_793_600_000;

#[test]
fn ip_drift_the_new_country_is_the_other_side_by_place() {
    let evs = vec![
        ev(T0, "d1", "198.18.1.10", FF, BERLIN, None),
        ev(T0 + 3 * 3600, "d1", "198.18.7.10", FF, BUCHAREST, None),
    ];
    let got = sides("ip-drift", evs, RevocationView::default());
    assert_eq!(got, vec![vec![("first use", Side::Owner), ("this use", Side::Other(Apart::PLACE))]]);
}

#[test]
fn ua_drift_the_new_client_is_the_other_side_by_client() {
    let evs = vec![
        ev(T0, "u1", "198.18.1.10", FF, BERLIN, None),
        ev(T0 + 60, "u1", "198.18.1.10", "curl/8.4.0", BERLIN, None),
    ];
    let got = sides("ua-drift", evs, RevocationView::default());
    assert_eq!(got, vec![vec![("first use", Side::Owner), ("this use", Side::Other(Apart::CLIENT))]]);
}

#[test]
fn impossible_travel_the_far_end_is_the_other_side_whichever_comes_first() {
    // owner in London, attacker in Singapore ten minutes later
    let evs = vec![ev(T0, "t1", "81.2.69.142", FF, LONDON, None), ev(T0 + 600, "t1", "214.0.0.5", FF, SINGAPORE, None)];
    let got = sides("impossible-travel", evs, RevocationView::default());
    assert_eq!(got, vec![vec![("previous use", Side::Owner), ("this use", Side::Other(Apart::PLACE))]]);
    // the attacker's use passes unflagged (12 h later: plausible), the owner's use back home fires:
    // the previous use is the far one
    let evs = vec![
        ev(T0, "t2", "81.2.69.142", FF, LONDON, None),
        ev(T0 + 12 * 3600, "t2", "214.0.0.5", FF, SINGAPORE, None),
        ev(T0 + 12 * 3600 + 1800, "t2", "81.2.69.143", FF, LONDON, None),
    ];
    let got = sides("impossible-travel", evs, RevocationView::default());
    assert_eq!(got, vec![vec![("previous use", Side::Other(Apart::PLACE)), ("this use", Side::Owner)]]);
}

#[test]
fn concurrent_use_the_first_place_is_the_owner_s_the_others_the_other_side_s() {
    let evs = vec![
        ev(T0, "c1", "198.18.1.10", FF, BERLIN, None),
        ev(T0 + 120, "c1", "198.18.20.10", FF, (52.52, 13.4, "DE", Some(64540)), None),
        ev(T0 + 240, "c1", "198.18.30.10", FF, (52.52, 13.4, "DE", Some(64550)), None),
    ];
    let got = sides("concurrent-use", evs, RevocationView::default());
    let other = Side::Other(Apart::NETWORK);
    assert_eq!(got, vec![vec![("concurrent use", Side::Owner), ("concurrent use", other), ("this use", other)]]);
}

#[test]
fn revoked_and_expired_uses_are_the_other_side_from_there_on() {
    let mut revs = RevocationView::default();
    let tok = token("r1", None);
    revs.revoke_token("i", "r1", EventTime::from_secs(T0 + 60));
    assert!(matches!(revs.check(&tok, EventTime::from_secs(T0 + 600)), Some(Revoked::Token { .. })));
    let evs = vec![ev(T0, "r1", "198.18.1.10", FF, BERLIN, None), ev(T0 + 600, "r1", "198.18.1.10", FF, BERLIN, None)];
    let got = sides("revoked-use", evs, revs);
    assert_eq!(got, vec![vec![("use after revocation", Side::Other(Apart::since(EventTime::from_secs(T0 + 60))))]]);
    let evs = vec![ev(T0 + 600, "e1", "198.18.1.10", FF, BERLIN, Some(T0))];
    let got = sides("expired-use", evs, RevocationView::default());
    // expired from exp + the rule's skew (60 s) on
    assert_eq!(got, vec![vec![("accepted use", Side::Other(Apart::since(EventTime::from_secs(T0 + 60))))]]);
}
