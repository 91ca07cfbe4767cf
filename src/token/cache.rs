//! A bounded two-generation cache (an approximate LRU with O(1) operations):
//! lookups hit the young map, then the old map (and are promoted); when the
//! young map is full the old one is dropped. Memory stays under 2 x capacity
//! whatever an attacker sprays.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

pub struct TwoGenCache<K, V, S = std::hash::RandomState> {
    /// Values with the weight they were given (promotion keeps it: an
    /// average weight let an attacker promote large values as small ones).
    young: HashMap<K, (V, usize), S>,
    old: HashMap<K, (V, usize), S>,
    capacity: usize,
    /// Bytes one generation may hold (by the weights given at insert).
    max_bytes: usize,
    young_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl<K: Eq + Hash, V: Clone, S: BuildHasher + Default> TwoGenCache<K, V, S> {
    /// `capacity` is the size of one generation (at least 1).
    pub fn new(capacity: usize) -> Self {
        TwoGenCache {
            young: HashMap::default(),
            old: HashMap::default(),
            capacity: capacity.max(1),
            max_bytes: usize::MAX,
            young_bytes: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Also bound each generation by bytes (entries weighed at insert), so
    /// large values an attacker chooses cannot grow it past `max_bytes` x 2.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    pub fn get(&mut self, k: &K) -> Option<V>
    where
        K: Clone,
    {
        if let Some((v, _)) = self.young.get(k) {
            self.hits += 1;
            return Some(v.clone());
        }
        if let Some((v, w)) = self.old.remove(k) {
            self.hits += 1;
            self.insert_weighed(k.clone(), v.clone(), w);
            return Some(v);
        }
        self.misses += 1;
        None
    }

    pub fn insert(&mut self, k: K, v: V) {
        self.insert_weighed(k, v, 0);
    }

    /// Insert with the value's approximate size in bytes.
    pub fn insert_weighed(&mut self, k: K, v: V, bytes: usize) {
        if self.young.len() >= self.capacity || self.young_bytes.saturating_add(bytes) > self.max_bytes {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes = self.young_bytes.saturating_add(bytes);
        self.young.insert(k, (v, bytes));
    }

    /// The key is held (in either generation), without promoting it.
    pub fn contains(&self, k: &K) -> bool {
        self.young.contains_key(k) || self.old.contains_key(k)
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keeps_hot_entries() {
        let mut c: TwoGenCache<u32, u32> = TwoGenCache::new(10);
        for i in 0..1000 {
            c.insert(i, i);
            assert!(c.get(&0).is_some(), "hot key survives at {i}");
            if i == 0 {
                continue;
            }
        }
        assert!(c.len() <= 20);
        assert!(c.get(&500).is_none());
    }

    #[test]
    fn bounded_by_bytes_too() {
        let mut c: TwoGenCache<u32, Vec<u8>> = TwoGenCache::new(1_000_000).with_max_bytes(10_000);
        for i in 0..1000 {
            c.insert_weighed(i, vec![0; 4096], 4096);
        }
        // two generations of at most 10 000 bytes each: at most 4 entries of 4 KiB
        assert!(c.len() <= 4, "{}", c.len());
    }
}
