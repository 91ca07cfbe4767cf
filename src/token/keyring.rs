//! Keys that can change while the process runs: the long-lived `stream`
//! re-reads its JWKS (file or URL) periodically, so an identity provider's key
//! rotation does not turn every new token into an `unknown_kid` forgery.
//! Resolvers notice a new version with one atomic load and drop the verdicts
//! they cached under the old keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::{KeyError, KeySet};

type Build = Box<dyn Fn() -> Result<KeySet, KeyError> + Send + Sync>;

pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
    version: AtomicU64,
    build: Build,
}

impl KeyRing {
    /// Build the first key set now (an error here stops the start).
    pub fn new(build: Build) -> Result<Self, KeyError> {
        let first = build()?;
        Ok(KeyRing { current: RwLock::new(Arc::new(first)), version: AtomicU64::new(1), build })
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn current(&self) -> (Arc<KeySet>, u64) {
        let g = self.current.read().expect("not poisoned");
        (g.clone(), self.version())
    }

    /// Build the key set again; on error the old keys stay in use.
    /// Returns the number of keys now loaded.
    pub fn reload(&self) -> Result<usize, KeyError> {
        let next = (self.build)()?;
        let n = next.len();
        *self.current.write().expect("not poisoned") = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(n)
    }
}
