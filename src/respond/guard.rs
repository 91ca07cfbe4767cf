//! Guard rails that keep an attacker from turning the detector into a
//! mass-logout weapon: a revocation budget (token bucket, per minute) beyond
//! which requests are parked for a person, one `revocation-storm` alert per
//! storm, and never-revoke lists (service accounts, clients, issuers; `*`
//! globs). Time is passed in (milliseconds), so the logic is testable.

use crate::rules::glob;
use crate::settings::RespondSettings;

use super::request::Request;

/// A token bucket refilled at `per_minute` tokens a minute, holding at most that.
#[derive(Debug)]
pub struct Budget {
    per_minute: f64,
    tokens: f64,
    last_ms: Option<i64>,
    /// A storm is on from the first parked request until the bucket is full again.
    storm: bool,
}

/// What the budget says of one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Go,
    /// Over budget; `true` for the first request of a storm (raise the alert).
    Park {
        storm_starts: bool,
    },
}

impl Budget {
    pub fn new(per_minute: u32) -> Self {
        Budget { per_minute: per_minute as f64, tokens: per_minute as f64, last_ms: None, storm: false }
    }

    pub fn admit(&mut self, now_ms: i64) -> Admit {
        if let Some(last) = self.last_ms {
            let refill = (now_ms - last).max(0) as f64 / 60_000.0 * self.per_minute;
            self.tokens = (self.tokens + refill).min(self.per_minute);
        }
        self.last_ms = Some(now_ms);
        if self.storm && self.tokens >= self.per_minute {
            self.storm = false;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Go;
        }
        let starts = !self.storm;
        self.storm = true;
        Admit::Park { storm_starts: starts }
    }
}

/// Subjects, clients and issuers never revoked (service accounts...).
#[derive(Debug, Clone, Default)]
pub struct NeverRevoke {
    subjects: Vec<String>,
    clients: Vec<String>,
    issuers: Vec<String>,
}

impl NeverRevoke {
    pub fn new(s: &RespondSettings) -> Self {
        NeverRevoke {
            subjects: s.never_revoke_subjects.clone(),
            clients: s.never_revoke_clients.clone(),
            issuers: s.never_revoke_issuers.clone(),
        }
    }

    /// Which list protects this request, if any.
    pub fn protects(&self, r: &Request) -> Option<&'static str> {
        let any = |pats: &[String], v: Option<&str>| v.is_some_and(|v| pats.iter().any(|p| glob(p, v)));
        if any(&self.subjects, r.sub.as_deref()) {
            return Some("never_revoke_subjects");
        }
        if any(&self.clients, r.client_id.as_deref()) {
            return Some("never_revoke_clients");
        }
        if any(&self.issuers, Some(r.iss())) {
            return Some("never_revoke_issuers");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_the_budget_then_parks_with_one_storm() {
        let mut b = Budget::new(10);
        let go = (0..10).filter(|_| b.admit(0) == Admit::Go).count();
        assert_eq!(go, 10);
        assert_eq!(b.admit(0), Admit::Park { storm_starts: true });
        assert_eq!(b.admit(100), Admit::Park { storm_starts: false });
        // 6 s later: one token back, the storm goes on
        assert_eq!(b.admit(6_100), Admit::Go);
        assert_eq!(b.admit(6_100), Admit::Park { storm_starts: false });
        // a full minute of calm refills the bucket and ends the storm
        assert_eq!(b.admit(70_000), Admit::Go);
        for _ in 0..9 {
            b.admit(70_000);
        }
        assert_eq!(b.admit(70_000), Admit::Park { storm_starts: true });
    }
}
