//! The books' map of keys, which the hot steps look up by a hash taken
//! before the lock.
//!
//! Hashing a key with SipHash (std's `RandomState`, keyed at random per
//! pool, so that keys chosen by remote users cannot flood one bucket) is a
//! large part of a checkout's or a check-in's locked step. A
//! [`KeyHash`] taken outside the lock moves that work out of it; the map
//! then only compares keys in the bucket the hash names.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::key::Key;

/// A key's hash under one pool's hasher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyHash(u64);

impl KeyHash {
    pub(crate) fn bits(self) -> u64 {
        self.0
    }
}

/// Hashes keys for one pool: the same hasher in and out of the lock.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyHasher(RandomState);

impl KeyHasher {
    pub(crate) fn hash<K: Key>(&self, key: &K) -> KeyHash {
        KeyHash(self.0.hash_one(key))
    }
}

/// Keys and their values, each key once.
#[derive(Debug)]
pub(crate) struct KeyMap<K, V> {
    table: HashTable<(K, V)>,
    hasher: KeyHasher,
}

impl<K: Key, V> KeyMap<K, V> {
    pub(crate) fn new(hasher: KeyHasher) -> Self {
        KeyMap {
            table: HashTable::new(),
            hasher,
        }
    }

    pub(crate) fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let KeyHash(hash) = self.hasher.hash(key);
        self.table.find(hash, |(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let hash = self.hasher.hash(key);
        self.get_mut_hashed(hash, key)
    }

    /// The value of `key`, whose hash under this map's hasher is `hash`.
    pub(crate) fn get_mut_hashed(&mut self, KeyHash(hash): KeyHash, key: &K) -> Option<&mut V> {
        self.table.find_mut(hash, |(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, made by `make` if the key is new.
    pub(crate) fn get_or_insert_with(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V {
        let KeyHash(hash) = self.hasher.hash(key);
        let hasher = &self.hasher;
        let (_, value) = self
            .table
            .entry(hash, |(k, _)| k == key, |(k, _)| hasher.hash(k).0)
            .or_insert_with(|| (key.clone(), make()))
            .into_mut();
        value
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let KeyHash(hash) = self.hasher.hash(key);
        match self.table.find_entry(hash, |(k, _)| k == key) {
            Ok(entry) => Some(entry.remove().0.1),
            Err(_) => None,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.table.iter().map(|(k, v)| (k, v))
    }

    /// Keeps the keys `keep` says to keep.
    #[cfg(test)]
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.table.retain(|(k, v)| keep(k, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_hash_taken_outside_and_by_itself() {
        let hasher = KeyHasher::default();
        let mut map: KeyMap<u32, &str> = KeyMap::new(hasher.clone());
        *map.get_or_insert_with(&7, || "seven") = "seven";
        map.get_or_insert_with(&8, || "eight");
        assert_eq!(map.get_or_insert_with(&7, || "again"), &"seven");
        let hash = hasher.hash(&7);
        assert_eq!(map.get_mut_hashed(hash, &7).map(|v| *v), Some("seven"));
        assert_eq!(map.get(&8), Some(&"eight"));
        assert_eq!(map.len(), 2);
        assert_eq!(map.remove(&7), Some("seven"));
        assert_eq!(map.get_mut_hashed(hash, &7), None);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn many_keys_are_each_found_once() {
        let mut map: KeyMap<u32, u32> = KeyMap::new(KeyHasher::default());
        for key in 0..10_000 {
            map.get_or_insert_with(&key, || key * 2);
        }
        for key in (0..10_000).step_by(2) {
            assert_eq!(map.remove(&key), Some(key * 2));
        }
        assert_eq!(map.len(), 5_000);
        assert!(
            (1..10_000)
                .step_by(2)
                .all(|key| map.get(&key) == Some(&(key * 2)))
        );
        assert_eq!(map.iter().count(), 5_000);
    }
}
