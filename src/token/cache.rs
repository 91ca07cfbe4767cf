//! A bounded two-generation cache (an approximate LRU with O(1) operations):
//! lookups hit the young map, then the old map (and are promoted); when the
//! young map is full the old one is dropped. Memory stays under 2 x capacity
//! whatever an attacker sprays.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

pub struct TwoGenCache<K, V, S = std::hash::RandomState> {
    young: HashMap<K, V, S>,
    old: HashMap<K, V, S>,
    capacity: usize,
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
            hits: 0,
            misses: 0,
        }
    }

    pub fn get(&mut self, k: &K) -> Option<V>
    where
        K: Clone,
    {
        if let Some(v) = self.young.get(k) {
            self.hits += 1;
            return Some(v.clone());
        }
        if let Some(v) = self.old.remove(k) {
            self.hits += 1;
            self.insert(k.clone(), v.clone());
            return Some(v);
        }
        self.misses += 1;
        None
    }

    pub fn insert(&mut self, k: K, v: V) {
        if self.young.len() >= self.capacity {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(k, v);
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
}
