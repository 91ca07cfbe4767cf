//! Users, sessions (one token each) and the planted thefts.

use std::net::IpAddr;
use std::rc::Rc;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::clients::{Client, CLIENTS, LEAKY_UA};
use super::rng::Rng;
use super::world::{host, Net, World};
use super::{GenEvent, GenToken, TokenMode, ISSUER, KID};
use crate::model::EventTime;

const MIN: i64 = 60_000_000;
pub(super) struct User {
    pub sub: String,
    pub city: String,
    pub isp: usize,
    pub client: usize,
}

/// One planted theft: the ground truth a test checks detections against.
#[derive(Serialize, Debug, Clone)]
pub struct Theft {
    pub kind: &'static str,
    /// Rules that must fire on this token (empty for silent thefts).
    pub expected_rules: Vec<&'static str>,
    pub token: String,
    pub sub: String,
    pub client_id: &'static str,
    pub user_agent: String,
    pub victim_city: String,
    pub attacker_ips: Vec<String>,
    pub attacker_asns: Vec<u32>,
    pub first_attack: String,
    #[serde(skip)]
    pub first_attack_us: i64,
    pub attack_requests: usize,
    pub attack_paths: Vec<String>,
    /// When each attack request happens (to trim what a line limit cut off).
    #[serde(skip)]
    pub attack_times_us: Vec<i64>,
}

const KINDS: &[&str] = &[
    "impossible-travel",
    "ip-drift",
    "ua-drift",
    "concurrent-use",
    "revoked-use",
    "expired-use",
    "forged-token",
    "silent",
];

pub struct Generator {
    pub rng: Rng,
    pub(super) world: World,
    pub(super) users: Vec<User>,
    leaky: Vec<usize>,
    mode: TokenMode,
    seq: u64,
    key: Option<(EncodingKey, EncodingKey)>,
    pub thefts: Vec<Theft>,
    pub revocations: Vec<String>,
}

type Hop = (i64, IpAddr, Rc<str>);

impl Generator {
    pub fn new(seed: u64, n_users: u64, mode: TokenMode) -> Self {
        let mut rng = Rng::new(seed);
        let world = World::load();
        let total: u32 = CLIENTS.iter().map(|c| c.0).sum();
        let mut users = Vec::new();
        let mut leaky = Vec::new();
        for i in 0..n_users {
            let mut r = rng.below(total as u64) as u32;
            let client = CLIENTS
                .iter()
                .position(|c| {
                    if r < c.0 {
                        true
                    } else {
                        r -= c.0;
                        false
                    }
                })
                .unwrap_or(0);
            let city = rng.pick(&world.cities).clone();
            if CLIENTS[client].1.ua == LEAKY_UA {
                leaky.push(users.len());
            }
            users.push(User { sub: format!("user-{i:06}"), city, isp: rng.below(2) as usize, client });
        }
        let key = (mode != TokenMode::Claims).then(|| {
            let k = |pem: &str| EncodingKey::from_rsa_pem(pem.as_bytes()).expect("shipped test key");
            (
                k(include_str!("../../sample-logs/keys/idp-rs256.key")),
                k(include_str!("../../sample-logs/keys/attacker-rs256.key")),
            )
        });
        Generator { rng, world, users, leaky, mode, seq: 0, key, thefts: Vec::new(), revocations: Vec::new() }
    }

    pub(super) fn token(&mut self, sub: &str, client_id: &'static str, iat: i64, forged: Option<bool>) -> Rc<GenToken> {
        let jti = format!("{:016x}", self.rng.next_u64());
        let exp = iat + 3600;
        // mixed: half the tokens (by jti) are logged raw, half as claims;
        // a forgery is always a raw token
        let raw_here = self.mode == TokenMode::Raw
            || (self.mode == TokenMode::Mixed && (forged.is_some() || jti.as_bytes()[15] % 2 == 0));
        let raw = self.key.as_ref().filter(|_| raw_here).map(|(good, bad)| {
            #[derive(Serialize)]
            struct C<'a> {
                iss: &'a str,
                sub: &'a str,
                jti: &'a str,
                iat: i64,
                exp: i64,
                client_id: &'a str,
                aud: &'a str,
            }
            let c = C { iss: ISSUER, sub, jti: &jti, iat, exp, client_id, aud: "acme-api" };
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some(KID.into());
            encode(&h, &c, if forged == Some(true) { bad } else { good }).expect("sign")
        });
        Rc::new(GenToken { jti, sub: sub.into(), client_id, iat, exp, raw })
    }

    pub(super) fn event(&mut self, t: i64, ip: IpAddr, ua: &Rc<str>, tok: &Rc<GenToken>, attack: bool) -> GenEvent {
        const BENIGN: &[(&str, &str, &str, u32)] = &[
            ("GET", "/api/me", "me", 25),
            ("GET", "/api/orders", "orders", 20),
            ("GET", "/api/orders/{id}", "order", 20),
            ("POST", "/api/orders", "orders", 5),
            ("GET", "/api/profile", "profile", 10),
            ("PUT", "/api/profile", "profile", 3),
            ("GET", "/api/payments", "payments", 7),
            ("GET", "/api/catalog", "catalog", 10),
        ];
        const ATTACK: &[(&str, &str, &str, u32)] = &[
            ("GET", "/api/me", "me", 2),
            ("GET", "/api/payments", "payments", 3),
            ("GET", "/api/export", "export", 3),
            ("GET", "/admin/users", "admin", 1),
            ("GET", "/api/orders/{id}", "order", 3),
        ];
        let table = if attack { ATTACK } else { BENIGN };
        let total: u32 = table.iter().map(|r| r.3).sum();
        let mut r = self.rng.below(total as u64) as u32;
        let &(method, tmpl, route, _) = table
            .iter()
            .find(|x| {
                if r < x.3 {
                    true
                } else {
                    r -= x.3;
                    false
                }
            })
            .unwrap_or(&table[0]);
        let path = tmpl.replace("{id}", &(10_000 + self.rng.below(90_000)).to_string());
        let status = if attack {
            if route == "admin" {
                403
            } else {
                200
            }
        } else if self.rng.chance(0.05) {
            *self.rng.pick(&[401, 403, 404, 429, 500, 503])
        } else if method == "POST" {
            201
        } else {
            200
        };
        self.seq += 1;
        let bytes = if attack && route == "export" {
            250_000 + self.rng.below(500_000) as u32
        } else {
            200 + self.rng.below(4000) as u32
        };
        GenEvent { t, seq: self.seq, ip, ua: ua.clone(), method, path, route, status, bytes, token: Some(tok.clone()) }
    }

    /// The events of session `k` (of `total`), starting at `start` (µs).
    pub fn session(&mut self, k: u64, total: u64, start: i64) -> Vec<GenEvent> {
        let mut out = Vec::new();
        // Unauthenticated health checks from the monitoring network.
        if self.rng.chance(0.3) {
            self.seq += 1;
            let ip = host(self.world.city_net("Frankfurt", "hosting", 1), &mut self.rng);
            out.push(GenEvent {
                t: start,
                seq: self.seq,
                ip,
                ua: "kube-probe/1.29".into(),
                method: "GET",
                path: "/health".into(),
                route: "health",
                status: 200,
                bytes: 2,
                token: None,
            });
        }
        let stride = (total / 24).clamp(8, 400);
        let theft = (k % stride == stride / 2).then(|| KINDS[((k / stride) as usize) % KINDS.len()]);
        let theft = theft.filter(|&kind| !(kind == "forged-token" && self.mode == TokenMode::Claims));
        let u = match theft {
            Some(kind) => self.victim(kind),
            None => self.rng.below(self.users.len() as u64) as usize,
        };
        let (city, isp, ci) = (self.users[u].city.clone(), self.users[u].isp, self.users[u].client);
        let client = &CLIENTS[ci].1;
        let ua: Rc<str> = client.ua.into();
        let sub = self.users[u].sub.clone();
        let iat = start / 1_000_000 - self.rng.range(0, 30);
        let tok = self.token(&sub, client.id, iat, None);
        let n = 5 + self.rng.below(30) as usize;
        let dur = self.rng.range(5 * MIN, 50 * MIN);
        let mut times: Vec<i64> = (0..n).map(|_| start + self.rng.range(0, dur)).collect();
        if theft.is_some() {
            // the victim uses the token first, and right before a concurrent attack
            times[0] = start;
            times.push(start + dur / 3 - MIN / 2);
        }
        times.sort_unstable();
        let hops = self.benign_path(&city, isp, client, &ua, &times, theft.is_some());
        let cut = theft.and_then(|k| self.victim_stops(k, start, dur));
        for (t, ip, ua) in hops {
            if cut.is_none_or(|c| t < c) {
                let ev = self.event(t, ip, &ua, &tok, false);
                out.push(ev);
            }
        }
        if let Some(kind) = theft {
            self.attack(kind, &city, &ua, &tok, start, dur, cut, &mut out);
        }
        out
    }

    fn victim(&mut self, kind: &str) -> usize {
        let near = ["London", "Paris", "Frankfurt", "Amsterdam"];
        let pool: Vec<usize> = if kind == "ip-drift" {
            self.users.iter().enumerate().filter(|(_, u)| near.contains(&u.city.as_str())).map(|(i, _)| i).collect()
        } else if !self.leaky.is_empty() && self.rng.chance(0.85) {
            self.leaky.clone()
        } else {
            (0..self.users.len()).collect()
        };
        let pool = if pool.is_empty() { (0..self.users.len()).collect() } else { pool };
        pool[self.rng.below(pool.len() as u64) as usize]
    }

    /// Where the victim stops using the token (logout, app closed).
    fn victim_stops(&mut self, kind: &str, start: i64, dur: i64) -> Option<i64> {
        match kind {
            "ip-drift" => Some(start + 15 * MIN),
            "revoked-use" | "silent" => Some(start + dur / 2),
            _ => None,
        }
    }

    /// Where each request of a benign session comes from, with one benign
    /// behaviour per session at most (theft sessions get none).
    fn benign_path(
        &mut self,
        city: &str,
        isp: usize,
        c: &Client,
        ua: &Rc<str>,
        times: &[i64],
        plain: bool,
    ) -> Vec<Hop> {
        let home = self.world.city_net(city, "residential", isp).clone();
        let mobile: Vec<Net> = self.world.nets(city, "mobile").into_iter().cloned().collect();
        let on_mobile = c.mobile && self.rng.chance(0.5);
        let base = if on_mobile { mobile[0].clone() } else { home.clone() };
        let behaviour = if plain { 0 } else { self.rng.below(100) };
        let updated: Option<Rc<str>> = c.updated.map(Into::into);
        let v6 = self.world.v6(city).cloned();
        let vpn = self.world.city_net(city, "vpn", 0).clone();
        let fixed = host(&base, &mut self.rng);
        let half = times.len() / 2;
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let (ip, ua) = match behaviour {
                    // carrier IP churn: a new address on every request, one ASN
                    0..=9 if on_mobile => (host(&mobile[i % 2], &mut self.rng), ua.clone()),
                    // wifi -> cellular in the same city
                    10..=19 if c.mobile && i >= half => (host(&mobile[0], &mut self.rng), ua.clone()),
                    // IPv4 <-> IPv6 flips of a dual-stack home line
                    20..=27 if !on_mobile && isp == 0 && i % 2 == 1 => {
                        (v6.as_ref().map_or(fixed, |n| host(n, &mut self.rng)), ua.clone())
                    }
                    // browser auto-update mid-session
                    28..=31 if i >= half && updated.is_some() => (fixed, updated.clone().unwrap_or_else(|| ua.clone())),
                    // VPN switched on for the middle of the session
                    32..=36 if i >= half / 2 && i < half + half / 2 => (host(&vpn, &mut self.rng), ua.clone()),
                    _ => (fixed, ua.clone()),
                };
                (t, ip, ua)
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn attack(
        &mut self,
        kind: &'static str,
        city: &str,
        ua: &Rc<str>,
        tok: &Rc<GenToken>,
        start: i64,
        dur: i64,
        cut: Option<i64>,
        out: &mut Vec<GenEvent>,
    ) {
        let exp_us = tok.exp * 1_000_000;
        let bullet = |w: &World, c: &str| w.hosting(c, 64900).clone();
        let far = {
            let w = &self.world;
            let mut v: Vec<String> = w.cities.iter().filter(|c| w.distance_km(city, c) > 3000.0).cloned().collect();
            v.sort();
            v
        };
        let neighbour = match city {
            "London" => "Paris",
            "Paris" => "London",
            "Frankfurt" => "Amsterdam",
            _ => "Frankfurt",
        };
        let curl: Rc<str> = (*self.rng.pick(&["curl/8.4.0", "python-requests/2.31.0", "Go-http-client/1.1"])).into();
        let mut tok = tok.clone();
        let (nets, at, n, ua, expected): (Vec<Net>, i64, usize, Rc<str>, Vec<&'static str>) = match kind {
            "impossible-travel" => {
                let c = self.rng.pick(&far).clone();
                (vec![bullet(&self.world, &c)], start + dur * 4 / 10, 3, ua.clone(), vec!["impossible-travel"])
            }
            "ip-drift" => {
                (vec![bullet(&self.world, neighbour)], cut.unwrap_or(start) + 30 * MIN, 3, ua.clone(), vec!["ip-drift"])
            }
            "ua-drift" => (vec![bullet(&self.world, city)], start + dur / 3, 3, curl, vec!["ua-drift"]),
            "concurrent-use" => {
                let nets = vec![bullet(&self.world, city), self.world.hosting(city, 64910).clone()];
                (nets, start + dur / 3, 4, ua.clone(), vec!["concurrent-use"])
            }
            "revoked-use" => {
                let r = cut.unwrap_or(start);
                let line = serde_json::json!({"iss": ISSUER, "jti": tok.jti, "revoked_at": EventTime(r).to_rfc3339()});
                self.revocations.push(line.to_string());
                (vec![bullet(&self.world, city)], r + 5 * MIN, 3, ua.clone(), vec!["revoked-use"])
            }
            "expired-use" => (vec![bullet(&self.world, city)], exp_us + 5 * MIN, 2, ua.clone(), vec!["expired-use"]),
            "forged-token" => {
                let sub = tok.sub.clone();
                tok = self.token(&sub, tok.client_id, start / 1_000_000, Some(true));
                (vec![bullet(&self.world, city)], start + dur / 2, 2, ua.clone(), vec!["forged-token"])
            }
            _ => (vec![bullet(&self.world, city)], cut.unwrap_or(start) + 3 * MIN, 3, ua.clone(), vec![]),
        };
        let (mut ips, mut paths, mut times) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            // concurrent-use spreads over both networks within 4 minutes
            let net = &nets[i % nets.len()];
            let ip = host(net, &mut self.rng);
            let t = at + i as i64 * MIN;
            let ev = self.event(t, ip, &ua, &tok, true);
            ips.push(ip.to_string());
            paths.push(ev.path.clone());
            times.push(t);
            out.push(ev);
        }
        ips.dedup();
        self.thefts.push(Theft {
            kind,
            expected_rules: expected,
            token: format!("{ISSUER}|{}", tok.jti),
            sub: tok.sub.clone(),
            client_id: tok.client_id,
            user_agent: ua.to_string(),
            victim_city: city.into(),
            attacker_ips: ips,
            attacker_asns: nets.iter().map(|n| n.asn).collect(),
            first_attack: EventTime(at).to_rfc3339(),
            first_attack_us: at,
            attack_requests: n,
            attack_paths: paths,
            attack_times_us: times,
        });
    }
}
