//! `IStr`: a shared, interned string behind a thin pointer (8 bytes, where
//! `Arc<str>` takes 16). User agents, methods and paths repeat across
//! millions of events and sit in per-token state, so their size counts.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IStr(Arc<Box<str>>);

impl IStr {
    pub fn ptr_eq(a: &IStr, b: &IStr) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for IStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for IStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for IStr {
    fn from(s: &str) -> Self {
        IStr(Arc::new(Box::from(s)))
    }
}

impl fmt::Debug for IStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0, f)
    }
}

impl fmt::Display for IStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for IStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Shares one string among equal strings (user agents, paths, methods as
/// [`IStr`]; a token's issuer and subject as `Arc<str>`), two generations so
/// an attacker's unique strings cannot grow it unbounded.
pub struct Interner<T = IStr> {
    young: HashSet<T, ahash::RandomState>,
    old: HashSet<T, ahash::RandomState>,
    cap: usize,
    young_bytes: usize,
    max_bytes: usize,
}

/// Bytes of strings one interner generation may hold (unless told).
const INTERNER_BYTES: usize = 8 << 20;

impl<T: for<'a> From<&'a str> + Borrow<str> + Hash + Eq + Clone> Interner<T> {
    pub fn new(cap: usize) -> Self {
        Interner {
            young: HashSet::default(),
            old: HashSet::default(),
            cap: cap.max(1),
            young_bytes: 0,
            max_bytes: INTERNER_BYTES,
        }
    }

    /// At most `bytes` of strings a generation (of the cache it serves).
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Interned copy of `s`, cut to `max` bytes on a char boundary.
    pub fn get(&mut self, s: &str, max: usize) -> T {
        let s = cut(s, max);
        if let Some(a) = self.young.get(s) {
            return a.clone();
        }
        let a = self.old.take(s).unwrap_or_else(|| T::from(s));
        if self.young.len() >= self.cap || self.young_bytes + s.len() > self.max_bytes {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += s.len() + 32;
        self.young.insert(a.clone());
        a
    }

    /// The interned copy of `s` when it is held (in either generation),
    /// without adding it.
    pub fn find(&mut self, s: &str) -> Option<T> {
        if let Some(a) = self.young.get(s) {
            return Some(a.clone());
        }
        self.old.contains(s).then(|| self.get(s, usize::MAX))
    }
}

/// `s` cut to at most `max` bytes on a char boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_shares_and_caps() {
        let mut i: Interner = Interner::new(2);
        let a = i.get("curl/8", 100);
        let b = i.get("curl/8", 100);
        assert!(IStr::ptr_eq(&a, &b));
        assert_eq!(&*i.get("ééé", 3), "é");
        for n in 0..100 {
            i.get(&n.to_string(), 10);
        }
        assert!(i.young.len() + i.old.len() <= 4);
        // the same for plain shared strings (a token's issuer and subject)
        let mut n: Interner<Arc<str>> = Interner::new(2);
        let (x, y) = (n.get("alice", usize::MAX), n.get("alice", usize::MAX));
        assert!(Arc::ptr_eq(&x, &y));
        for k in 0..100 {
            n.get(&k.to_string(), usize::MAX);
        }
        assert!(n.young.len() + n.old.len() <= 4);
        assert!(!Arc::ptr_eq(&x, &n.get("alice", usize::MAX)), "evicted after two generations");
        // a generation also stops at its bytes
        let mut b: Interner<Arc<str>> = Interner::new(1000).with_max_bytes(100);
        for k in 0..50 {
            b.get(&format!("{k:040}"), usize::MAX);
        }
        assert!(b.young.len() + b.old.len() <= 4, "{} strings of 40 bytes held", b.young.len() + b.old.len());
    }
}
