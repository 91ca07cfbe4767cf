//! A decode cache shared by the workers of one process.

use std::sync::Arc;

use super::cache::TwoGenCache;
use crate::model::TokenInfo;

type KeyHash = std::hash::BuildHasherDefault<crate::model::PrfHasher>;

/// (key-ring version, decoded token) by cache key.
type SharedShard = TwoGenCache<u128, (u64, Arc<TokenInfo>), KeyHash>;

/// Decodes shared by the workers of one process: a raw token is decoded
/// and verified once, whichever worker meets it first (RSA verification is
/// the dearest step of a replay). Sharded locks, each shard a bounded
/// [`TwoGenCache`] by count and bytes; an entry remembers the key-ring
/// version it was verified under and is ignored under another.
pub struct SharedDecodes {
    shards: Box<[std::sync::Mutex<SharedShard>]>,
}

impl SharedDecodes {
    const SHARDS: usize = 16;

    /// `capacity` entries and `bytes` per generation, over all shards.
    pub fn new(capacity: usize, bytes: usize) -> Arc<Self> {
        let (c, b) = ((capacity / Self::SHARDS).max(64), (bytes / Self::SHARDS).max(1 << 16));
        Arc::new(SharedDecodes {
            shards: (0..Self::SHARDS).map(|_| std::sync::Mutex::new(TwoGenCache::new(c).with_max_bytes(b))).collect(),
        })
    }

    fn shard(&self, k: u128) -> std::sync::MutexGuard<'_, SharedShard> {
        // a poisoned shard (a panic elsewhere) is still a valid cache
        self.shards[(k as usize) % Self::SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, k: u128, version: u64) -> Option<Arc<TokenInfo>> {
        self.shard(k).get(&k).filter(|(v, _)| *v == version).map(|(_, i)| i)
    }

    pub(super) fn insert(&self, k: u128, version: u64, info: Arc<TokenInfo>, w: usize) {
        self.shard(k).insert_weighed(k, (version, info), w);
    }
}
