//! A generated campaign for `investigate` with the cases an analyst meets
//! (addresses from MaxMind's GeoLite2-City test database, no ASN database):
//! 16 stolen tokens replayed from one provider's /24 in San Diego (214.78.7.0/24), half
//! with the victim's own browser user agent, half with a script client;
//! four silent thefts (victims in San Diego, the attacker in the same city:
//! no rule fires); decoys in San Diego on other networks; a legitimate
//! reporting job that runs every hour for four weeks from an address in the
//! attacker's /24 with the attacker's script client; and a planted root
//! cause (the partner portal leaks its tokens: 12 of the 16 victims use it).

use std::fmt::Write as _;
use std::path::Path;

pub const ISS: &str = "https://idp.campaign.example";
pub const SCRIPT_UA: &str = "python-requests/2.31.0";
pub const JOB_IP: &str = "214.78.7.10";
pub const PLANTED: (&str, &str) = ("client and app version", "partner-portal Chrome on Windows");
const CHROME_WIN: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
const FIREFOX_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:131.0) Gecko/20100101 Firefox/131.0";
const CLIENTS: [(u64, &str, &str); 5] = [
    (5, "partner-portal", CHROME_WIN),
    (35, "web", CHROME_WIN),
    (20, "web", FIREFOX_MAC),
    (20, "mobile-ios", "AcmeMobile/4.1.0 (iOS 17.1; iPhone15,2)"),
    (20, "mobile-android", "AcmeMobile/4.1.0 (Android 14; Pixel 8)"),
];
/// 2026-10-01T00:00:00Z
const T0: i64 = 1_790_812_800;
const DAY: i64 = 86_400;

/// One planted theft and what the attacker did with it.
#[derive(Debug)]
pub struct Theft {
    pub kind: &'static str,
    pub token: String,
    pub requests: u64,
    pub bytes: u64,
    pub resources: u64,
}

pub struct Campaign {
    pub thefts: Vec<Theft>,
    /// The reporting job's tokens (never to be accused).
    pub job_tokens: Vec<String>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A home address: (city, address) from the test database's located ranges.
fn home(city: usize, r: &mut Rng) -> String {
    match city % 6 {
        0 => format!("81.2.69.{}", 144 + r.below(64)),    // London
        1 => format!("89.160.20.{}", 112 + r.below(144)), // Linköping
        2 => format!("2.125.160.{}", 216 + r.below(8)),   // Boxford
        3 => format!("216.160.83.{}", 56 + r.below(8)),   // Milton
        4 => format!("175.16.199.{}", 1 + r.below(254)),  // Changchun
        // San Diego (214.78.0.0/19, 2001:480::/43 in the test database), not the attacker's /24
        _ if r.below(4) == 0 => format!("2001:480:{:x}::{:x}", 1 + r.below(30), 1 + r.below(65_000)),
        _ => format!("214.78.{}.{}", [1, 2, 3, 5, 6, 12, 20][r.below(7) as usize], 1 + r.below(254)),
    }
}

struct Log {
    lines: Vec<(i64, String)>,
    r: Rng,
    jti: u64,
}

impl Log {
    fn token(&mut self) -> String {
        self.jti += 1;
        format!("{:016x}", self.jti.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }

    #[allow(clippy::too_many_arguments)]
    fn req(
        &mut self,
        t_ms: i64,
        ip: &str,
        ua: &str,
        path: &str,
        status: u16,
        bytes: u64,
        tok: (&str, &str, &str, i64),
    ) {
        let (jti, sub, client, iat) = tok;
        let mut l = String::new();
        let _ = write!(
            l,
            r#"{{"time":{t_ms},"client_ip":"{ip}","user_agent":"{ua}","method":"GET","path":"{path}","status":{status},"bytes":{bytes},"gateway":"gw-{}","claims":{{"iss":"{ISS}","jti":"{jti}","sub":"{sub}","client_id":"{client}","iat":{iat},"exp":{}}}}}"#,
            path.split('/').nth(2).unwrap_or("root"),
            iat + 3600
        );
        self.lines.push((t_ms, l));
    }

    /// An owner's session: `n` requests two minutes apart from `ip`.
    fn session(&mut self, start: i64, n: i64, ip: &str, ua: &str, sub: &str, client: &str) -> String {
        let jti = self.token();
        const ROUTES: [&str; 5] = ["/api/me", "/api/orders", "/api/profile", "/api/catalog", "/api/orders/42"];
        for k in 0..n {
            let path = ROUTES[self.r.below(5) as usize];
            let bytes = 200 + self.r.below(3000);
            self.req((start + k * 120) * 1000, ip, ua, path, 200, bytes, (&jti, sub, client, start - 5));
        }
        jti
    }
}

/// Write the campaign's log (tokenhound's NDJSON, in time order) to `path`.
pub fn write(path: &Path) -> Campaign {
    let mut log = Log { lines: Vec::new(), r: Rng(11), jti: 0 };
    // 240 users with a session every other day or so for four weeks
    let total: u64 = CLIENTS.iter().map(|c| c.0).sum();
    for u in 0..240 {
        let mut pick = log.r.below(total);
        let mut c = &CLIENTS[0];
        for x in &CLIENTS {
            c = x;
            if pick < x.0 {
                break;
            }
            pick -= x.0;
        }
        let ip = home(u, &mut log.r);
        let sub = format!("user-{u:04}");
        let mut day = log.r.below(2) as i64;
        while day < 28 {
            let start = T0 + day * DAY + 7 * 3600 + log.r.below(14 * 3600) as i64;
            let n = 4 + log.r.below(7) as i64;
            log.session(start, n, &ip, c.2, &sub, c.1);
            day += 1 + log.r.below(3) as i64;
        }
    }
    // the reporting job: a token an hour, two requests, from one address in the attacker's /24
    let mut job_tokens = Vec::new();
    for h in 0..28 * 24 {
        let jti = log.token();
        let t = T0 + h * 3600;
        for k in 0..2 {
            log.req(
                (t + 5 + k * 5) * 1000,
                JOB_IP,
                SCRIPT_UA,
                "/api/reports/daily",
                200,
                900,
                (&jti, "svc-reporting", "reporting-job", t),
            );
        }
        job_tokens.push(format!("{ISS}|{jti}"));
    }
    let mut thefts = Vec::new();
    for i in 0..20i64 {
        let silent = i >= 16;
        let (client, ua) = if i < 12 { ("partner-portal", CHROME_WIN) } else { ("web", FIREFOX_MAC) };
        let ip = if silent { home(5, &mut log.r) } else { home(i as usize % 5, &mut log.r) };
        let sub = format!("victim-{i:02}");
        // the victim's history, then the stolen session on day 21 or 22
        for d in [3, 9, 15] {
            log.session(T0 + d * DAY + 9 * 3600 + i * 600, 5, &ip, ua, &sub, client);
        }
        let start = T0 + (21 + i % 2) * DAY + (8 + i / 2) * 3600;
        let jti = log.session(start, if silent { 5 } else { 10 }, &ip, ua, &sub, client);
        let (kind, attacker_ua) = match (silent, i % 2) {
            (true, _) => ("silent", ua),
            (false, 0) => ("same user agent", ua),
            _ => ("script client", SCRIPT_UA),
        };
        let n = 5 + i as u64 % 6;
        let (mut bytes, mut paths) = (0, std::collections::BTreeSet::new());
        for j in 0..n as i64 {
            let host = if silent { 150 + i } else { 50 + (i * 7 + j % 2) % 50 };
            let path = match log.r.below(4) {
                0 => "/api/export".to_string(),
                1 => "/api/payments".to_string(),
                2 => "/admin/users".to_string(),
                _ => format!("/api/orders/{}", 1000 + log.r.below(50)),
            };
            let status = if path == "/admin/users" { 403 } else { 200 };
            let b = 1000 + log.r.below(500_000);
            let t = (start + 300 + j * 180 + 30) * 1000;
            log.req(t, &format!("214.78.7.{host}"), attacker_ua, &path, status, b, (&jti, &sub, client, start - 5));
            bytes += b;
            paths.insert(path);
        }
        thefts.push(Theft { kind, token: format!("{ISS}|{jti}"), requests: n, bytes, resources: paths.len() as u64 });
    }
    log.lines.sort_by_key(|l| l.0);
    let text: String = log.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
    Campaign { thefts, job_tokens }
}
