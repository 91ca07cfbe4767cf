//! Compiled `scope` filters and `exceptions` of a rule, matched against an
//! event (and, for two-ended detectors, against the earlier use too).

use ipnet::IpNet;

use crate::model::{TokenInfo, Use};

/// Which requests a rule looks at. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub issuers: Vec<String>,
    pub clients: Vec<String>,
    pub paths: Vec<String>,
    pub methods: Vec<String>,
}

impl Scope {
    /// A forgery's `iss` and `client_id` are the sender's words: it cannot
    /// step out of a rule's scope by claiming another issuer or client.
    #[inline]
    pub fn matches(&self, ev: &Use, tok: &TokenInfo) -> bool {
        // most rules have no scope: every rule asks on every event
        let unscoped =
            self.issuers.is_empty() && self.clients.is_empty() && self.paths.is_empty() && self.methods.is_empty();
        unscoped || self.matches_listed(ev, tok)
    }

    fn matches_listed(&self, ev: &Use, tok: &TokenInfo) -> bool {
        let any = |list: &[String], v: Option<&str>| list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v));
        let forged = tok.verdict.is_forged();
        let claims_in_scope = any(&self.issuers, tok.iss.as_deref()) && any(&self.clients, tok.client_id.as_deref());
        (forged || claims_in_scope)
            && (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(&ev.method)))
            && (self.paths.is_empty() || self.paths.iter().any(|g| glob(g, &ev.path)))
    }
}

/// Known-good sources and principals a rule must not fire on.
#[derive(Debug, Clone, Default)]
pub struct Exceptions {
    pub cidrs: Vec<IpNet>,
    pub asns: Vec<u32>,
    pub countries: Vec<String>,
    /// Lower-cased substrings.
    pub user_agents: Vec<String>,
    pub subjects: Vec<String>,
    pub clients: Vec<String>,
}

impl Exceptions {
    /// True when the token's principal is excepted: only on the word of a
    /// vouched token (a forgery claiming an excepted client or subject once
    /// silenced forged-token).
    pub fn principal(&self, tok: &TokenInfo) -> bool {
        if !tok.trusted() {
            return false;
        }
        let hit = |list: &[String], v: Option<&str>| v.is_some_and(|v| list.iter().any(|x| x == v));
        hit(&self.subjects, tok.sub.as_deref()) || hit(&self.clients, tok.client_id.as_deref())
    }

    /// True when this use comes from an excepted network, ASN, country or
    /// client software.
    #[inline]
    pub fn source(&self, u: &Use) -> bool {
        let none =
            self.cidrs.is_empty() && self.asns.is_empty() && self.countries.is_empty() && self.user_agents.is_empty();
        !none && self.source_listed(u)
    }

    fn source_listed(&self, u: &Use) -> bool {
        if let Some(ip) = u.ip {
            if self.cidrs.iter().any(|n| n.contains(&ip)) {
                return true;
            }
        }
        if let Some(g) = &u.geo {
            if g.asn.is_some_and(|a| self.asns.contains(&a)) {
                return true;
            }
            if g.country.as_deref().is_some_and(|c| self.countries.iter().any(|x| x.eq_ignore_ascii_case(c))) {
                return true;
            }
        }
        if !self.user_agents.is_empty() {
            if let Some(ua) = &u.user_agent {
                let low = ua.to_ascii_lowercase();
                return self.user_agents.iter().any(|x| low.contains(x.as_str()));
            }
        }
        false
    }
}

/// Path glob: `*` matches within one segment, `**` any number of segments.
pub fn glob(pat: &str, path: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=s.len()).any(|i| rec(&p[2..], &s[i..])),
            Some(b'*') => {
                let seg_end = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
                (0..=seg_end).any(|i| rec(&p[1..], &s[i..]))
            }
            Some(&c) => s.first() == Some(&c) && rec(&p[1..], &s[1..]),
        }
    }
    // Bound the work on attacker-controlled paths.
    path.len() <= 4096 && pat.len() <= 256 && rec(pat.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("/api/*/orders", "/api/v1/orders"));
        assert!(!glob("/api/*/orders", "/api/v1/x/orders"));
        assert!(glob("/api/**", "/api/v1/x/orders"));
        assert!(glob("/admin", "/admin"));
        assert!(!glob("/admin", "/admin/x"));
    }
}
