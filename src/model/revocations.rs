//! The revocation view the engine consults: revoked `iss`+`jti` pairs and
//! per-subject "revoked before" cutoffs. Pure data; drivers fill it (from a
//! file in replay, from a topic in stream). Persistent maps: a copy is O(1)
//! and shares structure, so the stream's feed publishes a new view every
//! 100 ms without copying millions of entries, and entries can be dropped
//! once no token they could match is still alive.

use std::sync::Arc;

use super::{EventTime, TokenInfo};

/// How a token was revoked.
#[derive(Clone, Debug, PartialEq)]
pub enum Revoked {
    /// This token, at this time.
    Token { at: EventTime },
    /// Every token of the subject issued (`iat`) before the cutoff.
    Subject { before: EventTime },
}

type Entries = Arc<[(Arc<str>, EventTime)]>;

/// Keyed by `jti` or `sub`: the sender's words, so a randomly seeded hasher
/// (ahash: the check runs on every event, and SipHash took half of its ~330
/// instructions).
type Map = imbl::GenericHashMap<Arc<str>, Entries, ahash::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

#[derive(Default, Debug, Clone)]
pub struct RevocationView {
    by_jti: Map,
    by_sub: Map,
    count: usize,
}

impl RevocationView {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.by_jti.is_empty() && self.by_sub.is_empty()
    }

    /// Revoke one token; the earliest time wins.
    pub fn revoke_token(&mut self, iss: &str, jti: &str, at: EventTime) {
        self.count += upsert(&mut self.by_jti, jti, iss, at, |old, new| new < old);
    }

    /// Revoke every token of `sub` issued before `before`; the latest cutoff wins.
    pub fn revoke_subject(&mut self, iss: &str, sub: &str, before: EventTime) {
        self.count += upsert(&mut self.by_sub, sub, iss, before, |old, new| new > old);
    }

    /// Forget a token revocation made at `at` (it has outlived every token
    /// it could match). A later or earlier entry for the same token stays.
    pub fn forget_token(&mut self, iss: &str, jti: &str, at: EventTime) {
        self.count -= remove(&mut self.by_jti, jti, iss, at);
    }

    /// Forget a subject cutoff `before` (every token issued before it has expired).
    pub fn forget_subject(&mut self, iss: &str, sub: &str, before: EventTime) {
        self.count -= remove(&mut self.by_sub, sub, iss, before);
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

/// Insert or improve an entry; 1 when a new entry was added.
fn upsert(m: &mut Map, key: &str, iss: &str, t: EventTime, better: impl Fn(EventTime, EventTime) -> bool) -> usize {
    let cur = m.get(key).cloned();
    let mut v: Vec<(Arc<str>, EventTime)> = cur.as_deref().map(<[_]>::to_vec).unwrap_or_default();
    let added = match v.iter_mut().find(|(i, _)| i.as_ref() == iss) {
        Some(e) if better(e.1, t) => {
            e.1 = t;
            0
        }
        Some(_) => return 0,
        None => {
            v.push((iss.into(), t));
            1
        }
    };
    m.insert(key.into(), v.into());
    added
}

/// Remove the entry of exactly this time; 1 when one was removed.
fn remove(m: &mut Map, key: &str, iss: &str, t: EventTime) -> usize {
    let Some(cur) = m.get(key) else { return 0 };
    if !cur.iter().any(|(i, at)| i.as_ref() == iss && *at == t) {
        return 0;
    }
    let v: Vec<_> = cur.iter().filter(|(i, at)| !(i.as_ref() == iss && *at == t)).cloned().collect();
    if v.is_empty() {
        m.remove(key);
    } else {
        m.insert(key.into(), v.into());
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Origin, TokenId, TokenKey, Verdict};

    fn tok(jti: &str) -> TokenInfo {
        let mut t = TokenInfo::bare(TokenKey([0; 16]), TokenId::Fingerprint("f".into()), Verdict::Valid, Origin::Raw);
        t.iss = Some("i".into());
        t.jti = Some(jti.into());
        t.sub = Some("s".into());
        t.iat = Some(10);
        t
    }

    #[test]
    fn copies_share_and_entries_can_be_forgotten() {
        let mut v = RevocationView::default();
        v.revoke_token("i", "j", EventTime::from_secs(100));
        let before = v.clone();
        v.revoke_token("i", "k", EventTime::from_secs(100));
        v.revoke_subject("i", "s", EventTime::from_secs(50));
        assert_eq!((before.len(), v.len()), (1, 3), "the old copy is unchanged");
        assert!(v.check(&tok("j"), EventTime::from_secs(101)).is_some());
        v.forget_token("i", "j", EventTime::from_secs(99));
        assert_eq!(v.len(), 3, "only the entry of that time is forgotten");
        v.forget_token("i", "j", EventTime::from_secs(100));
        v.forget_subject("i", "s", EventTime::from_secs(50));
        assert_eq!(v.len(), 1);
        assert!(v.check(&tok("j"), EventTime::from_secs(101)).is_none());
    }
}
