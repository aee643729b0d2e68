//! Which key was used least recently, without a scan of every key.
//!
//! Each remembered key has one entry in a min-heap, stamped with the use
//! tick it had when the entry was made. A use only bumps the key's own
//! `last_used` (no heap work, no clone on the checkout path); the heap
//! catches up lazily: an entry popped with a stale stamp goes back with the
//! key's current one. The first entry popped whose stamp is current is the
//! least recently used key, since every other key's stamp is at least as
//! large and its `last_used` at least its stamp. Each use costs at most one
//! re-push, so finding a victim is amortized O(log n).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use crate::connection::Connection;
use crate::key::Key;
use crate::pool::state::KeyState;

/// A key stamped with a use tick; ordered by the tick alone.
#[derive(Debug)]
struct Stamped<K> {
    tick: u64,
    key: K,
}

impl<K> PartialEq for Stamped<K> {
    fn eq(&self, other: &Self) -> bool {
        self.tick == other.tick
    }
}

impl<K> Eq for Stamped<K> {}

impl<K> PartialOrd for Stamped<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Stamped<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tick.cmp(&other.tick)
    }
}

/// The keys by recency of use.
#[derive(Debug)]
pub(crate) struct Recency<K> {
    heap: BinaryHeap<Reverse<Stamped<K>>>,
}

impl<K: Key> Recency<K> {
    pub(crate) fn new() -> Self {
        Recency {
            heap: BinaryHeap::new(),
        }
    }

    /// A key was added to the map, used at `tick`.
    pub(crate) fn added(&mut self, key: K, tick: u64) {
        self.heap.push(Reverse(Stamped { tick, key }));
    }

    /// Takes out of the order, and returns, the least recently used key of
    /// `keys` that `may_go` accepts. Keys it refuses keep their place.
    ///
    /// Refused keys are popped and pushed back, so a call costs O(log n) per
    /// refused key; the pool refuses only keys with connections lent or
    /// being made, or checkouts waiting, which `max_total` bounds.
    pub(crate) fn take_least_recent<C: Connection>(
        &mut self,
        keys: &mut HashMap<K, KeyState<K, C>>,
        mut may_go: impl FnMut(&mut KeyState<K, C>) -> bool,
    ) -> Option<K> {
        let mut refused = Vec::new();
        let found = loop {
            let Some(Reverse(entry)) = self.heap.pop() else {
                break None;
            };
            // A key the map no longer has has no entry to keep.
            let Some(state) = keys.get_mut(&entry.key) else {
                continue;
            };
            if state.last_used != entry.tick {
                self.heap.push(Reverse(Stamped {
                    tick: state.last_used,
                    key: entry.key,
                }));
            } else if may_go(state) {
                break Some(entry.key);
            } else {
                refused.push(Reverse(entry));
            }
        };
        self.heap.extend(refused);
        found
    }

    /// How many keys the order holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Keys = HashMap<u32, KeyState<u32, tokio::net::TcpStream>>;

    fn remember(keys: &mut Keys, recency: &mut Recency<u32>, key: u32, tick: u64) {
        keys.insert(key, KeyState::new(tick));
        recency.added(key, tick);
    }

    #[test]
    fn the_key_used_least_recently_is_found_after_later_uses_reorder_them() {
        let mut keys = Keys::new();
        let mut recency = Recency::new();
        for key in 0..5 {
            remember(&mut keys, &mut recency, key, u64::from(key));
        }
        // Keys 0 and 1 are used again, 1 last: 2 is now the oldest.
        keys.get_mut(&0).unwrap().last_used = 10;
        keys.get_mut(&1).unwrap().last_used = 11;
        let mut order = Vec::new();
        while let Some(key) = recency.take_least_recent(&mut keys, |_| true) {
            keys.remove(&key);
            order.push(key);
        }
        assert_eq!(order, [2, 3, 4, 0, 1]);
    }

    #[test]
    fn a_refused_key_keeps_its_place() {
        let mut keys = Keys::new();
        let mut recency = Recency::new();
        for key in 0..3 {
            remember(&mut keys, &mut recency, key, u64::from(key));
        }
        assert_eq!(
            recency.take_least_recent(&mut keys, |s| s.last_used != 0),
            Some(1)
        );
        keys.remove(&1);
        assert_eq!(recency.len(), 2);
        assert_eq!(recency.take_least_recent(&mut keys, |_| true), Some(0));
    }
}
