//! Memory per tracked subject: learn N subjects with a realistic history
//! (two networks, one or two cities and countries, two clients, a hundred
//! uses) and read the process's resident memory before and after.
//!   cargo run --release --example subject_memory -- 200000
use std::sync::Arc;

use tokenhound::engine::subjects::{BaselineLimits, Baselines};
use tokenhound::model::{EventTime, Geo, IStr, SourcePos, Use};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let geo = |lat: f64, cc: &str, asn: u32| {
        Arc::new(Geo {
            lat: Some(lat),
            lon: Some(13.4),
            country: Some(cc.into()),
            asn: Some(asn),
            ..Default::default()
        })
    };
    let places = [geo(52.5, "DE", 64501), geo(52.5, "DE", 64502), geo(48.1, "DE", 64503), geo(50.1, "AT", 64504)];
    let uas: [IStr; 2] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36".into(),
        "AcmeMobile/3.2.1 (iOS 17.1; iPhone15,2)".into(),
    ];
    let mut b = Baselines::new(BaselineLimits { max_subjects: n, window_secs: 30 * 86_400 });
    let before = rss_kib();
    let t0 = EventTime::from_secs(1_793_606_400);
    for i in 0..n {
        let id: (Arc<str>, Arc<str>) = ("https://idp.acme.example".into(), format!("user-{i:08}").into());
        for k in 0..100u32 {
            let p = &places[(k as usize + i) % if i % 3 == 0 { 4 } else { 2 }];
            let u = Use {
                time: t0.plus_secs(k as i64 * 7_200),
                ip: Some(std::net::IpAddr::from([198, 18, (k % 4) as u8, 10])),
                status: 200,
                user_agent: Some(uas[(k % 2) as usize].clone()),
                method: "GET".into(),
                path: "/api/me".into(),
                geo: Some(p.clone()),
                source: SourcePos::Test { name: "m".into(), index: 0 },
            };
            b.learn(&id, &u);
        }
    }
    let after = rss_kib();
    println!(
        "{n} subjects: {} KiB resident for baselines, {:.0} bytes per subject",
        after.saturating_sub(before),
        (after.saturating_sub(before) * 1024) as f64 / n as f64
    );
}
