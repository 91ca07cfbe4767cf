//! Response hooks end to end against real components: a Redis server of the
//! test's own (Debian `redis-server`), a receiver that verifies Security
//! Event Tokens with PyJWT against tokenhound's published JWKS and webhooks
//! with the official `standardwebhooks` library (tests/respond/receiver.py),
//! and the tansu broker for `tokenhound stream` + `tokenhound respond`.

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kafka::*;
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ISSUER: &str = "https://tokenhound.test";
const AUDIENCE: &str = "https://receiver.test";
const AUTH: &str = "Bearer receiver-token-1";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Redis server on a free loopback port, or None (skipped) without one.
fn redis() -> Option<(Killed, u16)> {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = free_port();
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(std::env::var("TEST_REQUIRE_KAFKA").is_err(), "redis-server is required here");
        eprintln!("skipped: no redis-server");
        return None;
    };
    let c = Killed(child);
    wait_for(20, "redis to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Some((c, port))
}

fn redis_conn(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap()
}

/// The verifying receiver on a free port; `script` like "503,503,202".
fn receiver(dir: &Path, respond_port: u16, script: &str, delay: f64) -> (Killed, u16, PathBuf) {
    let port = free_port();
    let rec = dir.join(format!("received-{port}.ndjson"));
    std::fs::write(&rec, "").unwrap();
    let mut child = Command::new("python3")
        .arg(common::root().join("tests/respond/receiver.py"))
        .args(["--port", &port.to_string(), "--record", rec.to_str().unwrap()])
        .args(["--jwks-url", &format!("http://127.0.0.1:{respond_port}/jwks.json")])
        .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--auth", AUTH, "--webhook-secret", WEBHOOK_SECRET])
        .args(["--script", script, "--delay", &delay.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 receiver");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "ready", "receiver did not start");
    (Killed(child), port, rec)
}

fn received(rec: &Path) -> Vec<Value> {
    std::fs::read_to_string(rec).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn respond_section(t: &Topics, mode: &str, redis_port: u16, recv_port: u16) -> String {
    format!(
        "[respond]\nmode = \"{mode}\"\nbudget_per_minute = 1000\nmax_attempts = 4\ninitial_backoff_ms = 100\nmax_backoff_ms = 400\n\
         timeout = \"2s\"\nparked_topic = \"{}\"\naudit_topic = \"{}\"\n\
         [respond.redis]\nurl = \"redis://127.0.0.1:{redis_port}/\"\n\
         [respond.ssf]\nendpoint = \"http://127.0.0.1:{recv_port}/ssf\"\nauthorization = \"{AUTH}\"\nissuer = \"{ISSUER}\"\n\
         audience = \"{AUDIENCE}\"\nsigning_key = \"sample-logs/keys/bench-es256.key\"\nkid = \"th-ssf-test\"\n\
         [respond.webhook]\nurl = \"http://127.0.0.1:{recv_port}/webhook\"\nsecret = \"{WEBHOOK_SECRET}\"\n",
        t.name("parked"),
        t.name("audit")
    )
}

fn now() -> i64 {
    #[allow(clippy::disallowed_methods)]
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A stolen token in tokenhound's own log format, with `exp` an hour ahead:
/// London, then New York a minute later (impossible travel: revoke).
fn story(jti: &str, sub: &str) -> Vec<Vec<u8>> {
    let t = now();
    let line = |secs: i64, ip: &str| {
        json!({"time": secs, "client_ip": ip, "user_agent": "AcmeMobile/3.2.1 (Android 14)", "method": "GET",
               "path": "/v1/orders", "status": 200,
               "claims": {"iss": "https://idp.acme.example", "jti": jti, "sub": sub, "exp": t + 3600, "iat": t - 600}})
        .to_string()
        .into_bytes()
    };
    vec![line(t - 120, "198.18.1.10"), line(t - 60, "198.18.81.10")]
}

/// A revocation request as `stream` produces it, for a token of `i`.
fn request(i: usize, exp: i64) -> Vec<u8> {
    json!({"scope": "token", "iss": "https://idp.acme.example", "jti": format!("burst-{i}"), "sub": format!("user-{i}"),
           "key": format!("https://idp.acme.example|burst-{i}"), "finding_uid": format!("f-{i}"), "rule": "impossible-travel",
           "reason": "test burst", "requested_at": "2026-11-29T00:00:00Z", "exp": exp, "idempotency_key": format!("f-{i}:token"),
           "vouched": true})
    .to_string()
    .into_bytes()
}

/// A stolen-token story end to end: finding -> request on the topic ->
/// Redis entry with the right TTL, verified SETs, verified webhooks.
#[test]
fn stolen_token_story_revoked_in_redis_ssf_and_webhook() {
    let Some(brokers) = tansu() else { return };
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let respond_port = free_port();
    let (_recv, recv_port, rec) = receiver(dir.path(), respond_port, "202", 0.0);
    let t = Topics::on_tansu(&brokers, &prefix("story"), 2);
    let cfg =
        stream_config(dir.path(), &brokers, &t, &format!("\n{}", respond_section(&t, "enforce", rport, recv_port)));
    let jti = format!("story-{}", t.prefix);
    produce(&brokers, &t.gateway(), story(&jti, "erin"));
    let s = StreamProc::start(&cfg, &["--input", &format!("{}:tokenhound", t.gateway())]);
    let r = StreamProc::start_on("respond", &cfg, &[], respond_port);
    let key = format!("tokenhound:deny:https%3A%2F%2Fidp.acme.example:{jti}");
    let mut conn = redis_conn(rport);
    wait_for(60, "the deny-list entry", || redis::cmd("EXISTS").arg(&key).query::<i64>(&mut conn).unwrap() == 1);
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut conn).unwrap();
    let expect = 3600 + 300 - 60; // exp - now + skew, give or take the minute the story took
    assert!((expect - 120..=3600 + 300).contains(&ttl), "TTL {ttl} not exp - now + skew");
    let uid: String = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    // the request on the compacted topic names the same finding
    let reqs = read_all(&brokers, &t.name("revocation-requests"), 1, Duration::from_secs(10));
    assert!(reqs.iter().filter(|r| r.value.is_some()).any(|r| r.json()["finding_uid"] == uid.as_str()));
    wait_for(60, "SETs and webhooks at the receiver", || {
        let got = received(&rec);
        let sets = got.iter().filter(|g| g["kind"] == "set" && g["ok"] == true).count();
        let hooks = got.iter().filter(|g| g["kind"] == "webhook" && g["ok"] == true).count();
        sets >= 3 && hooks >= 3
    });
    let got = received(&rec);
    assert!(got.iter().all(|g| g["ok"] == true), "every delivery verified: {got:?}");
    let session = got.iter().find(|g| g["event"].as_str().is_some_and(|e| e.ends_with("session-revoked"))).unwrap();
    assert_eq!(session["claims"]["sub_id"], json!({"format": "jwt_id", "iss": "https://idp.acme.example", "jti": jti}));
    assert_eq!(session["claims"]["txn"], uid.as_str());
    let cred = got.iter().find(|g| g["event"].as_str().is_some_and(|e| e.ends_with("credential-compromise"))).unwrap();
    assert_eq!(cred["claims"]["sub_id"]["sub"], "erin");
    assert!(got.iter().any(|g| g["type"] == "tokenhound.revocation.requested" && g["data"]["jti"] == jti.as_str()));
    assert!(got.iter().any(|g| g["type"] == "tokenhound.finding.created"));
    // the step-up signal: erin's risk reached HIGH (a verified CAEP
    // risk-level-change SET, a verified webhook, a Redis key with its TTL)
    let risk = got.iter().find(|g| g["event"].as_str().is_some_and(|e| e.ends_with("risk-level-change")));
    let risk = risk.unwrap_or_else(|| panic!("no risk-level-change SET: {got:?}"));
    assert_eq!(
        risk["claims"]["sub_id"],
        json!({"format": "iss_sub", "iss": "https://idp.acme.example", "sub": "erin"})
    );
    let body = &risk["claims"]["events"]["https://schemas.openid.net/secevent/caep/event-type/risk-level-change"];
    assert_eq!((body["principal"].as_str(), body["current_level"].as_str()), (Some("USER"), Some("HIGH")), "{body}");
    assert!(body.get("previous_level").is_none(), "no level before: previous_level omitted ({body})");
    assert!(body["risk_reason"].as_str().unwrap().contains("impossible-travel"), "{body}");
    let hook = got.iter().find(|g| g["type"] == "tokenhound.risk.changed").expect("a tokenhound.risk.changed webhook");
    assert_eq!((hook["data"]["sub"].as_str(), hook["data"]["current_level"].as_str()), (Some("erin"), Some("HIGH")));
    let rkey = "tokenhound:deny:risk:https%3A%2F%2Fidp.acme.example:erin";
    let level: String = redis::cmd("GET").arg(rkey).query(&mut conn).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(rkey).query(&mut conn).unwrap();
    assert_eq!(level, "HIGH");
    assert!((86_000..=86_400).contains(&ttl), "risk key TTL {ttl} (risk_ttl 24h)");
    // the transmitter's metadata points at the JWKS it signs with
    let (code, conf) = r.get("/.well-known/ssf-configuration").unwrap();
    assert_eq!(code, 200);
    let conf: Value = serde_json::from_str(&conf).unwrap();
    assert_eq!(conf["issuer"], ISSUER);
    assert_eq!(conf["delivery_methods_supported"], json!(["urn:ietf:rfc:8935"]));
    assert!(!r.log_text().contains(WEBHOOK_SECRET) && !r.log_text().contains("receiver-token-1"), "secrets logged");
    assert!(r.stop(30).success());
    assert!(s.stop(30).success());
}

/// 503 twice then 202: each request is delivered, once per id; a receiver
/// that is down: retries, then the dead-letter topic with the reason.
#[test]
fn retries_then_delivery_once_per_id_and_dead_letters_when_down() {
    let Some(brokers) = tansu() else { return };
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let respond_port = free_port();
    let (_recv, recv_port, rec) = receiver(dir.path(), respond_port, "503,503,202", 0.0);
    let t = Topics::on_tansu(&brokers, &prefix("retry"), 2);
    let cfg =
        stream_config(dir.path(), &brokers, &t, &format!("\n{}", respond_section(&t, "enforce", rport, recv_port)));
    let n = 5;
    produce(&brokers, &t.name("revocation-requests"), (0..n).map(|i| request(i, now() + 3600)));
    let r = StreamProc::start_on("respond", &cfg, &[], respond_port);
    // per request: two SETs (session-revoked, credential-compromise) and a webhook
    wait_for(90, "every delivery accepted", || received(&rec).iter().filter(|g| g["status"] == 202).count() >= 3 * n);
    let got = received(&rec);
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    for g in got.iter().filter(|g| g["ok"] == true) {
        *attempts.entry(g["id"].as_str().unwrap().into()).or_default() += 1;
        if g["status"] == 202 {
            *accepted.entry(g["id"].as_str().unwrap().into()).or_default() += 1;
        }
    }
    assert!(accepted.values().all(|c| *c == 1), "delivered once per id: {accepted:?}");
    assert!(attempts.values().all(|c| *c == 3), "503, 503, then 202: {attempts:?}");
    assert!(r.stop(30).success());

    // the receiver is down: every hook's delivery is retried, then dead-lettered
    drop(_recv);
    let t = Topics::on_tansu(&brokers, &prefix("down"), 2);
    let cfg =
        stream_config(dir.path(), &brokers, &t, &format!("\n{}", respond_section(&t, "enforce", rport, recv_port)));
    produce(&brokers, &t.name("revocation-requests"), [request(100, now() + 3600)]);
    let r = StreamProc::start_on("respond", &cfg, &[], free_port());
    let dead = {
        let mut d = Vec::new();
        wait_for(60, "dead letters", || {
            d = read_all(&brokers, &t.name("dead-letter"), 3, Duration::from_secs(2));
            d.len() >= 3
        });
        d
    };
    let hooks: std::collections::BTreeSet<&str> = dead.iter().filter_map(|d| d.header("tokenhound-hook")).collect();
    assert_eq!(hooks, ["ssf", "webhook"].into_iter().collect(), "both HTTP hooks gave up (Redis is up)");
    assert!(dead.iter().all(|d| d.header("tokenhound-error").is_some_and(|e| e.contains("4 attempts"))));
    assert!(r.stop(30).success());
}

/// The responder killed (SIGKILL) in the middle of slow deliveries and
/// restarted: every request is delivered; duplicates carry the same ids.
#[test]
fn killed_mid_delivery_loses_nothing() {
    let Some(brokers) = tansu() else { return };
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let respond_port = free_port();
    let (_recv, recv_port, rec) = receiver(dir.path(), respond_port, "202", 0.3);
    let t = Topics::on_tansu(&brokers, &prefix("kill"), 2);
    // a static member: the restarted responder takes its partitions back at
    // once, not after the killed one's session times out (45 s)
    let extra = format!("instance_id = \"kill\"\n{}", respond_section(&t, "enforce", rport, recv_port));
    let cfg = stream_config(dir.path(), &brokers, &t, &extra);
    let n = 12;
    produce(&brokers, &t.name("revocation-requests"), (0..n).map(|i| request(i, now() + 3600)));
    let r = StreamProc::start_on("respond", &cfg, &[], respond_port);
    wait_for(60, "some deliveries", || received(&rec).len() >= 6);
    r.kill9();
    let r = StreamProc::start_on("respond", &cfg, &[], respond_port);
    wait_for(120, "every request's session-revoked SET", || {
        let ids: std::collections::BTreeSet<String> = received(&rec)
            .iter()
            .filter(|g| g["event"].as_str().is_some_and(|e| e.ends_with("session-revoked")))
            .map(|g| g["claims"]["sub_id"]["jti"].as_str().unwrap().to_string())
            .collect();
        ids.len() == n
    });
    // a request delivered twice carries the same SET jti and webhook-id
    let mut by_token: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for g in received(&rec).iter().filter(|g| g["event"].as_str().is_some_and(|e| e.ends_with("session-revoked"))) {
        by_token
            .entry(g["claims"]["sub_id"]["jti"].as_str().unwrap().into())
            .or_default()
            .insert(g["id"].as_str().unwrap().into());
    }
    assert!(by_token.values().all(|ids| ids.len() == 1), "one id per request: {by_token:?}");
    assert!(r.stop(30).success());
}

/// A burst of 10 000 requests within a minute: at most the budget is
/// revoked, the rest parked, one revocation-storm alert. Dry-run: nothing
/// revoked, every "would revoke" recorded.
#[test]
fn budget_parks_a_burst_with_one_storm_alert_and_dry_run_revokes_nothing() {
    let Some(brokers) = tansu() else { return };
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let budget = 50;
    let burst = 10_000;
    let t = Topics::on_tansu(&brokers, &prefix("burst"), 2);
    // Redis only: the HTTP hooks are covered above
    let section = format!(
        "[respond]\nmode = \"enforce\"\nbudget_per_minute = {budget}\nparked_topic = \"{}\"\naudit_topic = \"{}\"\n\
         [respond.redis]\nurl = \"redis://127.0.0.1:{rport}/\"\nprefix = \"burst\"\n",
        t.name("parked"),
        t.name("audit")
    );
    let cfg = stream_config(dir.path(), &brokers, &t, &format!("\n{section}"));
    produce(&brokers, &t.name("revocation-requests"), (0..burst).map(|i| request(i, now() + 3600)));
    #[allow(clippy::disallowed_methods)] // the bucket refills with the time the burst took
    let started = std::time::Instant::now();
    let r = StreamProc::start_on("respond", &cfg, &[], free_port());
    wait_for(120, "every request handled", || r.metric("tokenhound_events_total", "stage=\"respond\"") >= burst as f64);
    // the budget, plus what the bucket refilled while the burst was handled
    // (one request per 60/budget s: a loaded machine takes seconds)
    let refilled = (started.elapsed().as_secs_f64() / 60.0 * budget as f64).ceil() as usize;
    let mut conn = redis_conn(rport);
    let keys: Vec<String> = redis::cmd("KEYS").arg("burst:*").query(&mut conn).unwrap();
    assert!(
        keys.len() <= budget + refilled + 1 && keys.len() >= budget,
        "{} revoked with a budget of {budget} ({refilled} refilled while the burst was handled)",
        keys.len()
    );
    let parked = read_all(&brokers, &t.name("parked"), burst, Duration::from_secs(5));
    assert_eq!(parked.len() + keys.len(), burst, "the rest is parked");
    let storms: Vec<Value> = read_all(&brokers, &t.name("alerts"), 10, Duration::from_secs(3))
        .iter()
        .map(Rec::json)
        .filter(|a| a["finding_info"]["analytic"]["uid"] == "revocation-storm")
        .collect();
    assert_eq!(storms.len(), 1, "one storm alert");

    // a person decides: list the parked requests, approve two, reject one
    let cli = |args: &[&str]| {
        let out = common::bin().arg("respond").arg("--config").arg(&cfg).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, listing, err) = cli(&["list-parked"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<String>> =
        listing.lines().skip(1).map(|l| l.split_whitespace().map(String::from).collect()).collect();
    assert_eq!(rows.len(), parked.len(), "every parked request listed: {err}");
    assert!(rows.iter().all(|r| r[1] == "parked"));
    let (a, b, c) = (&rows[0], &rows[1], &rows[2]);
    let (ok, _, err) = cli(&["approve", &a[0], &b[0], "--by", "alice@soc", "--reason", "confirmed theft campaign"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["reject", &c[0], "--by", "bob@soc", "--reason", "test account"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["approve", &c[0], "--by", "mallory", "--reason", "again"]);
    assert!(!ok && err.contains("rejected by bob@soc"), "a request is decided once: {err}");
    let (ok, _, err) = cli(&["approve", "nosuchid", "--by", "alice@soc", "--reason", "x"]);
    assert!(!ok && err.contains("nosuchid"), "{err}");
    let (ok, _, err) = cli(&["approve", &a[0], "--by", "", "--reason", "x"]);
    assert!(!ok && err.contains("who"), "{err}");
    // the approved ones are delivered without the budget, the rejected one is not
    let jti = |row: &Vec<String>| row[4].rsplit('|').next().unwrap().to_string();
    let deny = |row: &Vec<String>| format!("burst:https%3A%2F%2Fidp.acme.example:{}", jti(row));
    wait_for(60, "the approved revocations", || {
        let n: i64 = redis::cmd("EXISTS").arg(deny(a)).arg(deny(b)).query(&mut conn).unwrap();
        n == 2
    });
    let n: i64 = redis::cmd("EXISTS").arg(deny(c)).query(&mut conn).unwrap();
    assert_eq!(n, 0, "the rejected request revoked nothing");
    let (_, listing, _) = cli(&["list-parked"]);
    assert!(listing.contains(&format!("{} approved:alice@soc", a[0])), "{listing}");
    assert!(listing.contains(&format!("{} rejected:bob@soc", c[0])), "{listing}");
    let audit: Vec<Value> =
        read_all(&brokers, &t.name("audit"), usize::MAX, Duration::from_secs(3)).iter().map(Rec::json).collect();
    let by = |who: &str, what: &str| audit.iter().filter(|x| x["by"] == who && x["outcome"] == what).count();
    assert_eq!((by("alice@soc", "approved"), by("bob@soc", "rejected")), (2, 1), "decisions audited with who and why");
    assert!(
        audit.iter().any(|x| x["approved_by"] == "alice@soc" && x["outcome"] == "delivered"),
        "the delivery names its approver"
    );
    assert!(r.stop(30).success());

    // dry-run: the same kind of requests revoke nothing and are all recorded
    let t = Topics::on_tansu(&brokers, &prefix("dry"), 2);
    let section = format!(
        "[respond]\nmode = \"dry-run\"\naudit_topic = \"{}\"\n[respond.redis]\nurl = \"redis://127.0.0.1:{rport}/\"\nprefix = \"dry\"\n",
        t.name("audit")
    );
    let cfg = stream_config(dir.path(), &brokers, &t, &format!("\n{section}"));
    produce(&brokers, &t.name("revocation-requests"), (0..20).map(|i| request(i, now() + 3600)));
    let r = StreamProc::start_on("respond", &cfg, &[], free_port());
    let mut audit = Vec::new();
    wait_for(60, "the audit", || {
        audit = read_all(&brokers, &t.name("audit"), 20, Duration::from_secs(2));
        audit.len() >= 20
    });
    assert!(audit.iter().all(|a| a.json()["outcome"] == "would_revoke" && a.json()["mode"] == "dry-run"));
    let keys: Vec<String> = redis::cmd("KEYS").arg("dry:*").query(&mut conn).unwrap();
    assert!(keys.is_empty(), "dry-run revoked {keys:?}");
    assert!(r.stop(30).success());
}

/// A receiver answering 410 Gone: the hook is disabled with an alert, the
/// request dead-lettered, later requests record the hook as disabled.
#[test]
fn gone_receiver_disables_the_hook_with_an_alert() {
    let Some(brokers) = tansu() else { return };
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let respond_port = free_port();
    let (_recv, recv_port, _rec) = receiver(dir.path(), respond_port, "410", 0.0);
    let t = Topics::on_tansu(&brokers, &prefix("gone"), 2);
    let cfg =
        stream_config(dir.path(), &brokers, &t, &format!("\n{}", respond_section(&t, "enforce", rport, recv_port)));
    produce(&brokers, &t.name("revocation-requests"), (0..3).map(|i| request(i, now() + 3600)));
    let r = StreamProc::start_on("respond", &cfg, &[], respond_port);
    wait_for(60, "every request handled", || r.metric("tokenhound_events_total", "stage=\"respond\"") >= 3.0);
    let alerts: Vec<Value> =
        read_all(&brokers, &t.name("alerts"), 10, Duration::from_secs(3)).iter().map(Rec::json).collect();
    let disabled: Vec<&Value> =
        alerts.iter().filter(|a| a["finding_info"]["analytic"]["uid"] == "hook-disabled").collect();
    assert_eq!(disabled.len(), 2, "one alert per HTTP hook (ssf, webhook): {alerts:?}");
    let audit: Vec<Value> =
        read_all(&brokers, &t.name("audit"), 100, Duration::from_secs(3)).iter().map(Rec::json).collect();
    let later = audit.iter().filter(|a| a["outcome"] == "hook_disabled" && a["action_id"] == "").count();
    assert_eq!(later, 4, "requests 2 and 3 skip both disabled hooks");
    // Redis, a different hook, still worked for all three
    let mut conn = redis_conn(rport);
    let keys: Vec<String> = redis::cmd("KEYS").arg("tokenhound:deny:*burst-*").query(&mut conn).unwrap();
    assert_eq!(keys.len(), 3);
    assert!(r.stop(30).success());
}

/// `replay --respond`: the replay's requests go through the same responder
/// (here: dry-run by default, then enforce into Redis), recorded in the audit file.
#[test]
fn replay_respond_dry_run_then_enforce() {
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("story.ndjson");
    let jti = "replay-story-1";
    std::fs::write(
        &log,
        story(jti, "frank").into_iter().map(|l| String::from_utf8(l).unwrap() + "\n").collect::<String>(),
    )
    .unwrap();
    let cfg = dir.path().join("respond.toml");
    let base = std::fs::read_to_string(common::root().join("sample-logs/tokenhound.toml")).unwrap();
    std::fs::write(
        &cfg,
        format!("{base}\n[respond]\n[respond.redis]\nurl = \"redis://127.0.0.1:{rport}/\"\nprefix = \"replay\"\n"),
    )
    .unwrap();
    let audit = dir.path().join("audit.ndjson");
    let run = |mode: &str| {
        let out = common::bin()
            .args(["replay", "--config", cfg.to_str().unwrap(), "--profile", "tokenhound", "--respond"])
            .args(["--respond-mode", mode, "--respond-audit", audit.to_str().unwrap(), log.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let recs: Vec<Value> =
            std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        recs
    };
    let mut conn = redis_conn(rport);
    let recs = run("dry-run");
    assert!(recs.iter().any(|r| r["value"]["outcome"] == "would_revoke" && r["value"]["hook"] == "redis"));
    assert!(!recs.iter().any(|r| r["value"]["outcome"] == "delivered"));
    let keys: Vec<String> = redis::cmd("KEYS").arg("replay:*").query(&mut conn).unwrap();
    assert!(keys.is_empty());
    let recs = run("enforce");
    assert!(recs.iter().any(|r| r["value"]["outcome"] == "delivered" && r["value"]["hook"] == "redis"));
    // every part percent-encoded (docs/respond.md): no `:` inside a part
    let ttl: i64 =
        redis::cmd("TTL").arg(format!("replay:https%3A%2F%2Fidp.acme.example:{jti}")).query(&mut conn).unwrap();
    assert!(ttl > 3000, "TTL {ttl}");
    // frank's risk is HIGH: the key an IdP reads to demand MFA, with its TTL
    let rkey = "replay:risk:https%3A%2F%2Fidp.acme.example:frank";
    let level: String = redis::cmd("GET").arg(rkey).query(&mut conn).unwrap();
    let rttl: i64 = redis::cmd("TTL").arg(rkey).query(&mut conn).unwrap();
    assert_eq!(level, "HIGH");
    assert!((86_000..=86_400).contains(&rttl), "risk TTL {rttl}");
}

/// The sample logs' tokens expired long ago: no deny-list entry for them,
/// but a subject-wide request (carol's revoked-use: the gateway's claims are
/// trusted in the sample settings) sets the "revoked before" cutoff; a
/// forgery never does; a never-revoke subject is left alone.
#[test]
fn replay_respond_sample_logs_expired_tokens_subject_cutoff_and_never_revoke() {
    let Some((_redis, rport)) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("respond.toml");
    let base = std::fs::read_to_string(common::root().join("sample-logs/tokenhound.toml")).unwrap();
    std::fs::write(
        &cfg,
        format!("{base}\n[respond]\nmode = \"enforce\"\nnever_revoke_subjects = [\"al*\"]\n[respond.redis]\nurl = \"redis://127.0.0.1:{rport}/\"\nprefix = \"sample\"\n"),
    )
    .unwrap();
    let audit = dir.path().join("audit.ndjson");
    let out = common::bin()
        .args(["replay", "--config", cfg.to_str().unwrap(), "--revocations", "sample-logs/revocations.ndjson"])
        .args(["--respond", "--respond-audit", audit.to_str().unwrap(), "sample-logs/logs"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let outcome = |o: &str| recs.iter().filter(|r| r["value"]["outcome"] == o).count();
    assert!(outcome("skipped") > 0, "expired tokens get no entry: {recs:?}");
    assert!(outcome("never_revoke") > 0, "alice's requests are protected");
    let mut conn = redis_conn(rport);
    let token_keys: Vec<String> = redis::cmd("KEYS").arg("sample:https*").query(&mut conn).unwrap();
    let fp_keys: Vec<String> = redis::cmd("KEYS").arg("sample:fp:*").query(&mut conn).unwrap();
    assert!(fp_keys.is_empty(), "the forgeries expired too: {fp_keys:?}");
    assert!(token_keys.is_empty(), "no entry for an expired token: {token_keys:?}");
    let subject_keys: Vec<String> = redis::cmd("KEYS").arg("sample:sub:*").query(&mut conn).unwrap();
    assert!(!subject_keys.is_empty(), "a subject-wide cutoff was set");
    for k in &subject_keys {
        let cutoff: i64 = redis::cmd("GET").arg(k).query(&mut conn).unwrap();
        assert!(cutoff > 1_790_000_000, "{k} = {cutoff}");
        assert!(!k.contains(":al"), "never-revoke subject {k}");
        assert!(!k.contains("ivan") && !k.contains("judy"), "a forged token's subject is never revoked: {k}");
    }
    assert_eq!(subject_keys, ["sample:sub:https%3A%2F%2Fidp.acme.example:carol"]);
}
