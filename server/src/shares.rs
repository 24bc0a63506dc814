//! Shares of a bounded resource held per holder (a client address's connections, a user's
//! uploads): how many each holds at once, each [`Share`] given back when dropped. Per process,
//! like what it counts; an entry lives only while its holder holds something.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// What each holder holds, by key.
pub struct Shares<K>(Arc<Mutex<HashMap<K, usize>>>);

impl<K> Clone for Shares<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<K> Default for Shares<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

/// One of a holder's shares, given back when dropped.
pub struct Share<K: Eq + Hash> {
    shares: Shares<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> Shares<K> {
    /// One more share for `key`, unless it holds `limit` already: then how many it holds.
    pub fn take(&self, key: K, limit: usize) -> Result<Share<K>, usize> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = held.get(&key).copied().unwrap_or(0);
        if mine >= limit {
            return Err(mine);
        }
        held.insert(key.clone(), mine + 1);
        Ok(Share {
            shares: self.clone(),
            key,
        })
    }

    /// How many shares `key` holds.
    pub fn held(&self, key: &K) -> usize {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(key).copied().unwrap_or(0)
    }

    /// How many holders hold anything.
    pub fn holders(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl<K: Eq + Hash> Drop for Share<K> {
    fn drop(&mut self) {
        // Never a panic here: a poisoned lock's counts are still right.
        let mut held = self.shares.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mine) = held.get_mut(&self.key) {
            *mine -= 1;
            if *mine == 0 {
                held.remove(&self.key);
            }
        }
    }
}
