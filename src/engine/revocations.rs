//! The revocation view the engine consults: revoked `iss`+`jti` pairs and
//! per-subject "revoked before" cutoffs. Pure data; drivers fill it (from a
//! file in replay, from a topic in stream).

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{EventTime, TokenInfo};

/// How a token was revoked.
#[derive(Clone, Debug, PartialEq)]
pub enum Revoked {
    /// This token, at this time.
    Token { at: EventTime },
    /// Every token of the subject issued (`iat`) before the cutoff.
    Subject { before: EventTime },
}

#[derive(Default, Debug, Clone)]
pub struct RevocationView {
    by_jti: HashMap<Arc<str>, Vec<(Arc<str>, EventTime)>>,
    by_sub: HashMap<Arc<str>, Vec<(Arc<str>, EventTime)>>,
}

impl RevocationView {
    pub fn len(&self) -> usize {
        self.by_jti.values().map(Vec::len).sum::<usize>() + self.by_sub.values().map(Vec::len).sum::<usize>()
    }
    pub fn is_empty(&self) -> bool {
        self.by_jti.is_empty() && self.by_sub.is_empty()
    }

    /// Revoke one token; the earliest time wins.
    pub fn revoke_token(&mut self, iss: &str, jti: &str, at: EventTime) {
        upsert(self.by_jti.entry(jti.into()).or_default(), iss, at, |old, new| new < old);
    }

    /// Revoke every token of `sub` issued before `before`; the latest cutoff wins.
    pub fn revoke_subject(&mut self, iss: &str, sub: &str, before: EventTime) {
        upsert(self.by_sub.entry(sub.into()).or_default(), iss, before, |old, new| new > old);
    }

    /// Is this token revoked as of `now`? Token revocations take precedence.
    pub fn check(&self, tok: &TokenInfo, now: EventTime) -> Option<Revoked> {
        let iss = tok.iss.as_deref().unwrap_or("");
        if let Some(jti) = &tok.jti {
            if let Some(v) = self.by_jti.get(jti.as_ref()) {
                if let Some((_, at)) = v.iter().find(|(i, _)| i.as_ref() == iss) {
                    if now > *at {
                        return Some(Revoked::Token { at: *at });
                    }
                }
            }
        }
        let (sub, iat) = (tok.sub.as_deref()?, tok.iat?);
        let v = self.by_sub.get(sub)?;
        let (_, before) = v.iter().find(|(i, _)| i.as_ref() == iss)?;
        (EventTime::from_secs(iat) < *before && now > *before).then_some(Revoked::Subject { before: *before })
    }
}

fn upsert(v: &mut Vec<(Arc<str>, EventTime)>, iss: &str, t: EventTime, better: impl Fn(EventTime, EventTime) -> bool) {
    match v.iter_mut().find(|(i, _)| i.as_ref() == iss) {
        Some(e) if better(e.1, t) => e.1 = t,
        Some(_) => {}
        None => v.push((iss.into(), t)),
    }
}
