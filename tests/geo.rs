//! GeoIP against real mmdb files: the project's sample databases (GeoIP2
//! City, GeoLite2 ASN and DB-IP flat schemas) and, when present, MaxMind's
//! official test databases (vendored in tests/data/maxmind-test).

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokenhound::enrich::{Anonymizers, GeoDb, GeoLookup, GeoSchema};

fn sample(name: &str) -> PathBuf {
    common::root().join("sample-logs/geo").join(name)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn sample_city_and_asn() {
    let db = GeoDb::open(Some(&sample("sample-city.mmdb")), Some(&sample("sample-asn.mmdb")), GeoSchema::Auto).unwrap();
    let g = db.lookup(ip("198.18.1.5")).expect("London");
    assert_eq!(
        (g.city.as_deref(), g.country.as_deref(), g.asn, g.radius_km),
        (Some("London"), Some("GB"), Some(64641), 10.0)
    );
    assert!((g.lat.unwrap() - 51.5074).abs() < 1e-9);
    assert_eq!(g.as_org.as_deref(), Some("Albion Broadband"));
    let v6 = db.lookup(ip("2001:db8:1::77")).expect("IPv6 London");
    assert_eq!(v6.city.as_deref(), Some("London"));
    assert_eq!(db.lookup(ip("198.18.126.3")).unwrap().asn, Some(64900), "BulletHost in Singapore");
    assert!(db.attribution.is_empty());
}

#[test]
fn special_and_unknown_addresses_have_no_location() {
    let db = Arc::new(
        GeoDb::open(Some(&sample("sample-city.mmdb")), Some(&sample("sample-asn.mmdb")), GeoSchema::Auto).unwrap(),
    );
    for a in [
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.5",
        "127.0.0.1",
        "100.64.0.1",
        "169.254.1.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "203.0.113.9",
        "8.8.8.8",
    ] {
        assert_eq!(db.lookup(ip(a)), None, "{a}");
    }
    let mut l = GeoLookup::new(db, 4);
    assert!(l.lookup(ip("198.18.1.5")).is_some());
    assert!(Arc::ptr_eq(&l.lookup(ip("198.18.1.5")).unwrap(), &l.lookup(ip("198.18.1.5")).unwrap()), "cached");
}

#[test]
fn dbip_flat_schema_is_detected_and_attributed() {
    let db = GeoDb::open(Some(&sample("sample-dbip-city.mmdb")), None, GeoSchema::Auto).unwrap();
    let g = db.lookup(ip("198.18.31.9")).expect("Berlin");
    assert_eq!((g.city.as_deref(), g.country.as_deref()), (Some("Berlin"), Some("DE")));
    assert!((g.lon.unwrap() - 13.405).abs() < 1e-4, "float coordinates");
    assert!(db.attribution[0].contains("DB-IP"));
    // forcing the wrong schema finds no location rather than crashing
    let wrong = GeoDb::open(Some(&sample("sample-dbip-city.mmdb")), None, GeoSchema::Geoip2).unwrap();
    assert_eq!(wrong.lookup(ip("198.18.31.9")).and_then(|g| g.lat), None);
}

#[test]
fn bad_database_files_are_clear_errors() {
    let e = GeoDb::open(Some(&common::root().join("Cargo.toml")), None, GeoSchema::Auto).err().unwrap().to_string();
    assert!(e.contains("Cargo.toml"), "{e}");
    let e = GeoDb::open(Some(&sample("sample-asn.mmdb")), None, GeoSchema::Auto).err().unwrap().to_string();
    assert!(e.contains("expected a city database"), "{e}");
}

fn maxmind_dir() -> Option<PathBuf> {
    let d = common::maxmind_dir();
    assert!(d.join("GeoIP2-City-Test.mmdb").exists(), "MaxMind test databases not found at {}", d.display());
    Some(d)
}

#[test]
fn maxmind_official_test_databases() {
    let Some(d) = maxmind_dir() else { return };
    for city in ["GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb"] {
        let db = GeoDb::open(Some(&d.join(city)), Some(&d.join("GeoLite2-ASN-Test.mmdb")), GeoSchema::Auto).unwrap();
        let g = db.lookup(ip("81.2.69.142")).expect("81.2.69.142 is in the test db");
        assert_eq!((g.city.as_deref(), g.country.as_deref()), (Some("London"), Some("GB")), "{city}");
        assert!(g.radius_km > 0.0 && g.lat.is_some());
        let a = db.lookup(ip("1.0.0.1")).expect("ASN test range");
        assert_eq!((a.asn, a.as_org.as_deref()), (Some(15169), Some("Google Inc.")));
        assert_eq!(db.lookup(ip("10.0.0.1")), None);
    }
}

#[test]
fn replay_with_maxmind_test_databases_finds_london_to_singapore_travel() {
    let Some(d) = maxmind_dir() else { return };
    let dir = common::tempdir();
    let log = dir.path().join("e.ndjson");
    // 81.2.69.142 London; 214.0.0.x Singapore (IPv4-mapped range in the test db)
    std::fs::write(
        &log,
        "{\"time\":\"2026-11-02T08:00:00Z\",\"client_ip\":\"81.2.69.142\",\"claims\":{\"iss\":\"i\",\"jti\":\"m1\"}}\n\
         {\"time\":\"2026-11-02T08:10:00Z\",\"client_ip\":\"::214.0.0.5\",\"claims\":{\"iss\":\"i\",\"jti\":\"m1\"}}\n",
    )
    .unwrap();
    let out = common::bin()
        .args(["replay", "--rules", "rules", "--profile", "tokenhound", "--geo-city"])
        .arg(d.join("GeoIP2-City-Test.mmdb"))
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let s = common::text(&out.stdout);
    assert!(s.contains("\"impossible-travel\"") && s.contains("Singapore") && s.contains("London"), "{s}");
}

/// An address in or near the test databases' networks, or anywhere.
fn address_near(rng: &mut tokenhound::gen::Rng) -> IpAddr {
    let r = rng.next_u64();
    let (b1, b2) = ((r >> 8) as u8, (r >> 16) as u8);
    match r % 4 {
        0 => IpAddr::from([198, 18, b1 % 128, b2]),
        1 => IpAddr::from([0x2001, 0xdb8, u16::from(b1 % 64), 0, 0, 0, 0, u16::from(b2)]),
        // MaxMind's test ranges (London, Google's ASN, Singapore, Sweden)
        2 => {
            let [a, b, c, _] = [[81, 2, 69, 142], [1, 0, 0, 1], [214, 0, 0, 5], [89, 160, 20, 112]][b1 as usize % 4];
            IpAddr::from([a, b, c, b2])
        }
        _ => IpAddr::from(((r >> 32) as u32).to_be_bytes()),
    }
}

#[test]
fn addresses_of_one_network_share_one_answer_the_uncached_lookup_gives() {
    let d = maxmind_dir().unwrap();
    let dbs = [
        GeoDb::open(Some(&sample("sample-city.mmdb")), Some(&sample("sample-asn.mmdb")), GeoSchema::Auto).unwrap(),
        GeoDb::open(Some(&d.join("GeoIP2-City-Test.mmdb")), Some(&d.join("GeoLite2-ASN-Test.mmdb")), GeoSchema::Auto)
            .unwrap(),
        // three city databases: the first that knows an address answers
        GeoDb::open_many(
            &[&sample("sample-dbip-city.mmdb"), &d.join("GeoIP2-City-Test.mmdb"), &sample("sample-city.mmdb")],
            Some(&sample("sample-asn.mmdb")),
            GeoSchema::Auto,
        )
        .unwrap(),
        // a first city database whose records in 198.18.0.0/20 do not
        // decode: those addresses are answered by the sample's /24 records
        GeoDb::open_many(
            &[&common::root().join("tests/data/broken-city.mmdb"), &sample("sample-city.mmdb")],
            Some(&sample("sample-asn.mmdb")),
            GeoSchema::Geoip2,
        )
        .unwrap(),
        // anonymizer bits are per address, apart from the records
        GeoDb::open(Some(&d.join("GeoIP2-City-Test.mmdb")), Some(&d.join("GeoLite2-ASN-Test.mmdb")), GeoSchema::Auto)
            .unwrap()
            .with_anonymizers(Anonymizers::open(Some(&d.join("GeoIP2-Anonymous-IP-Test.mmdb")), &[]).unwrap()),
    ];
    for db in dbs {
        let db = Arc::new(db);
        // a small cache: both generations turn over many times
        let mut l = GeoLookup::new(db.clone(), 16);
        let mut rng = tokenhound::gen::Rng::new(0x0067_656f);
        let mut known = 0;
        for _ in 0..20_000 {
            let a = address_near(&mut rng);
            let want = db.lookup(a);
            assert_eq!(l.lookup(a).as_deref(), want.as_ref(), "{a}");
            known += want.is_some() as u32;
        }
        assert!(known > 2_000, "the addresses drawn hit the databases: {known}");
    }
    // the broken record falls through, the good one answers
    let broken = Arc::new(
        GeoDb::open_many(
            &[&common::root().join("tests/data/broken-city.mmdb"), &sample("sample-city.mmdb")],
            None,
            GeoSchema::Geoip2,
        )
        .unwrap(),
    );
    let mut l = GeoLookup::new(broken, 1024);
    let city = |l: &mut GeoLookup, a: &str| l.lookup(ip(a)).and_then(|g| g.city.as_deref().map(str::to_owned));
    assert_eq!(city(&mut l, "198.18.1.5").as_deref(), Some("London"));
    assert_eq!(city(&mut l, "198.18.11.5").as_deref(), Some("Manchester"), "same broken record, another answer");
    assert_eq!(city(&mut l, "198.18.21.5").as_deref(), Some("Elsewhere"));
    let db = Arc::new(
        GeoDb::open(Some(&sample("sample-city.mmdb")), Some(&sample("sample-asn.mmdb")), GeoSchema::Auto).unwrap(),
    );
    let mut l = GeoLookup::new(db, 1024);
    let a = l.lookup(ip("198.18.1.5")).unwrap();
    let b = l.lookup(ip("198.18.1.77")).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "one network, one answer");
    let other = l.lookup(ip("198.18.2.5")).unwrap();
    assert!(!Arc::ptr_eq(&a, &other) && other.asn == Some(64642), "another network (its own ASN), another answer");
}
