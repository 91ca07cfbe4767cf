//! Each token's first use, gathered as the events go by on the load's one
//! pass (no frame of the whole log, no group-by): the root cause compares
//! the stolen tokens' first uses with everybody's. Memory is bounded by the
//! number of tokens, not by the sizes of the strings an attacker sends:
//! a token is a 128-bit keyed hash of its id and a handful of numbers, its
//! attribute values ids into a table per attribute; a table that reaches
//! [`TABLE_BYTES`] maps new values to "unknown" (never a hypothesis).

use std::collections::HashMap;

use crate::engine::ua::{classify, UaKind};
use crate::model::{AccessEvent, IStr};

/// Bytes of distinct values one attribute's table may hold.
pub const TABLE_BYTES: usize = 32 << 20;

/// A token's first use: its time, the lifetime of its first event seen,
/// and the ids of its values ([`Attr`] order).
#[derive(Clone, Copy)]
struct First {
    time: i64,
    lifetime: Option<i64>,
    vals: [u32; 5],
}

/// The attributes kept by id: client, app version, first route, gateway, city.
const CLIENT: usize = 0;
const APP: usize = 1;

/// Distinct values of one attribute; id 0 is "unknown".
struct Table {
    ids: HashMap<IStr, u32, ahash::RandomState>,
    names: Vec<IStr>,
    bytes: usize,
}

impl Table {
    fn new() -> Table {
        let unknown = IStr::from("unknown");
        let mut ids = HashMap::default();
        ids.insert(unknown.clone(), 0);
        Table { ids, names: vec![unknown], bytes: 0 }
    }

    fn id(&mut self, v: Option<&str>) -> u32 {
        let Some(v) = v else { return 0 };
        if let Some(i) = self.ids.get(v) {
            return *i;
        }
        if self.bytes + v.len() > TABLE_BYTES {
            return 0;
        }
        let i = self.names.len() as u32;
        let v = IStr::from(v);
        self.bytes += v.len() + 48;
        self.ids.insert(v.clone(), i);
        self.names.push(v);
        i
    }
}

/// The first uses of every token of the log.
pub struct FirstUses {
    tokens: HashMap<u128, First, ahash::RandomState>,
    tables: [Table; 5],
    /// Two independently keyed hashers: a token id's 128-bit key.
    keys: (ahash::RandomState, ahash::RandomState),
    /// The app version of a user agent seen lately (classified once).
    apps: HashMap<IStr, u32, ahash::RandomState>,
    buf: String,
}

impl Default for FirstUses {
    fn default() -> Self {
        FirstUses {
            tokens: HashMap::default(),
            tables: std::array::from_fn(|_| Table::new()),
            keys: (ahash::RandomState::new(), ahash::RandomState::new()),
            apps: HashMap::default(),
            buf: String::new(),
        }
    }
}

/// One token's values, by attribute (the root cause's order).
pub struct Values<'a> {
    /// Client and app version, as the pair of their ids (the text is `client app`).
    pub pair: (u32, u32),
    pub client: &'a str,
    pub app: &'a str,
    pub route: &'a str,
    pub gateway: &'a str,
    pub city: &'a str,
    pub hour: String,
    pub lifetime: Option<i64>,
}

impl FirstUses {
    fn key(&self, id: &str) -> u128 {
        (u128::from(self.keys.0.hash_one(id)) << 64) | u128::from(self.keys.1.hash_one(id))
    }

    /// Whether the token named `id` (its display id) is among them.
    pub fn contains(&self, id: &str) -> bool {
        self.tokens.contains_key(&self.key(id))
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Take an event: the token's first use if it is earlier than any seen
    /// (on a tie the one seen first stays).
    pub fn observe(&mut self, ev: &AccessEvent) {
        let Some(t) = ev.token.as_deref() else { return };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        t.id.write_display_id(&mut buf);
        let key = self.key(&buf);
        self.buf = buf;
        let time = ev.time.0;
        if self.tokens.get(&key).is_some_and(|f| f.time <= time) {
            return;
        }
        let vals = [
            self.tables[CLIENT].id(t.client_id.as_deref()),
            self.app(ev.user_agent.as_ref()),
            self.tables[2].id(Some(&ev.path)),
            self.tables[3].id(ev.gateway.as_deref()),
            self.tables[4].id(ev.geo.as_deref().and_then(|g| g.city.as_deref())),
        ];
        let lifetime = match (t.exp, t.iat) {
            (Some(e), Some(i)) => Some(e.wrapping_sub(i)),
            _ => None,
        };
        self.tokens
            .entry(key)
            .and_modify(|f| {
                f.time = time;
                f.vals = vals;
            })
            .or_insert(First { time, lifetime, vals });
    }

    fn app(&mut self, ua: Option<&IStr>) -> u32 {
        let Some(ua) = ua else { return self.tables[APP].id(None) };
        if let Some(i) = self.apps.get(ua) {
            return *i;
        }
        let i = self.tables[APP].id(Some(&app_version(ua)));
        if self.apps.len() >= 65_536 {
            self.apps.clear();
        }
        self.apps.insert(ua.clone(), i);
        i
    }

    /// Every token's values, with whether it is one of `stolen` (display ids).
    pub fn each<'a>(&'a self, stolen: &[&str], mut f: impl FnMut(bool, Values<'a>)) {
        let stolen: std::collections::HashSet<u128> = stolen.iter().map(|s| self.key(s)).collect();
        for (k, first) in &self.tokens {
            let name = |a: usize| &*self.tables[a].names[first.vals[a] as usize];
            let hour = format!("{:02}:00", (first.time / 3_600_000_000).rem_euclid(24));
            let v = Values {
                pair: (first.vals[CLIENT], first.vals[APP]),
                client: name(CLIENT),
                app: name(APP),
                route: name(2),
                gateway: name(3),
                city: name(4),
                hour,
                lifetime: first.lifetime,
            };
            f(stolen.contains(k), v);
        }
    }
}

/// "AcmeMobile/3.2.1 on Android": an app's name/version and OS; a browser's
/// family and OS (its version changes every few weeks).
pub fn app_version(ua: &str) -> String {
    let c = classify(ua);
    let name = match c.kind {
        UaKind::Browser => c.family,
        _ => ua.split_whitespace().next().unwrap_or(""),
    };
    if c.os.is_empty() {
        name.to_string()
    } else {
        format!("{name} on {}", c.os)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventTime, SourcePos, TokenId, TokenInfo, TokenKey, Verdict};
    use std::sync::Arc;

    fn ev(jti: &str, t: i64, path: &str, ua: Option<&str>) -> AccessEvent {
        let id = TokenId::Jti { iss: "iss".into(), jti: jti.into() };
        let mut tok = TokenInfo::bare(TokenKey([7; 16]), id, Verdict::Valid, crate::model::Origin::Claims);
        tok.client_id = Some(Arc::from("web"));
        (tok.exp, tok.iat) = (Some(4000), Some(400));
        AccessEvent {
            time: EventTime(t),
            client_ip: None,
            user_agent: ua.map(IStr::from),
            method: "GET".into(),
            path: path.into(),
            status: 200,
            request_id: None,
            gateway: None,
            bytes: None,
            token: Some(Arc::new(tok)),
            geo: None,
            source: SourcePos::Test { name: "t".into(), index: 0 },
        }
    }

    #[test]
    fn the_earliest_use_wins_and_a_tie_keeps_the_one_seen_first() {
        let mut f = FirstUses::default();
        f.observe(&ev("a", 50, "/late", Some("curl/8.4.0")));
        f.observe(&ev("a", 10, "/early", Some("curl/8.4.0")));
        f.observe(&ev("a", 10, "/tie", None));
        f.observe(&ev("b", 5, "/b", None));
        assert_eq!(f.len(), 2);
        assert!(f.contains("iss|a") && !f.contains("iss|c"));
        let mut got = Vec::new();
        f.each(&["iss|a"], |stolen, v| got.push((stolen, v.route.to_string(), v.app.to_string(), v.lifetime)));
        got.sort();
        assert_eq!(
            got,
            [
                (false, "/b".into(), "unknown".into(), Some(3600)),
                (true, "/early".into(), "curl/8.4.0".into(), Some(3600))
            ]
        );
    }

    #[test]
    fn a_full_table_names_new_values_unknown() {
        let mut t = Table::new();
        let big = "x".repeat(TABLE_BYTES / 2);
        assert_eq!(t.id(Some(&big)), 1);
        assert_eq!(t.id(Some(&format!("{big}y"))), 0, "over the budget: unknown");
        assert_eq!(t.id(Some(&big)), 1, "a value already held keeps its id");
        assert_eq!(t.id(Some("unknown")), 0);
    }
}
