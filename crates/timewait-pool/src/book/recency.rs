//! Which key was used least recently, without a scan of every key.
//!
//! Each key of an order has one live entry in a min-heap, stamped with the use
//! tick it had when the entry was made. A use only bumps the key's own
//! `last_used` (no heap work, no clone on the checkout path); the heap
//! catches up lazily: an entry popped with a stale stamp goes back with the
//! key's current one. The first entry popped whose stamp is current is the
//! least recently used key, since every other key's stamp is at least as
//! large and its `last_used` at least its stamp. Each use costs at most one
//! re-push, so finding a victim is amortized O(log n).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::book::keymap::KeyMap;
use crate::book::keys::KeyBook;
use crate::key::Key;

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

/// What [`Recency::find`] does with a key it visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The key is the one sought; it leaves the order.
    Take,
    /// The key is the one sought; it keeps its place.
    Keep,
    /// Not this key; it keeps its place.
    Skip,
    /// Not this key, and it no longer belongs in the order: it leaves it
    /// until it is inserted again.
    Leave,
}

/// Keys of one kind (every key, the keys with no connection, the keys with
/// idle connections) by recency of use, each at most once.
///
/// A key's place is the stamp of its one live entry, kept in its
/// [`KeyBook`] (see [`Places`](crate::book::keys::Places)). An entry whose
/// stamp is not its key's place (the key was forgotten, or forgotten and
/// remembered again) is dead: dropped when popped, and by
/// [`compact`](Recency::compact) once dead entries outnumber live ones.
#[derive(Debug)]
pub(crate) struct Recency<K> {
    heap: BinaryHeap<Reverse<Stamped<K>>>,
}

/// Where a key's place in one order is kept.
pub(crate) type Place = fn(&mut KeyBook) -> &mut Option<u64>;

impl<K: Key> Recency<K> {
    pub(crate) fn new() -> Self {
        Recency {
            heap: BinaryHeap::new(),
        }
    }

    /// Puts `key`, used at `tick`, in the order unless it has a place there
    /// already (`place`).
    pub(crate) fn insert(&mut self, key: &K, place: &mut Option<u64>, tick: u64) {
        if place.is_none() {
            *place = Some(tick);
            self.heap.push(Reverse(Stamped {
                tick,
                key: key.clone(),
            }));
        }
    }

    /// Visits the keys of the order from the least recently used, and
    /// returns the first one that `judge` takes or keeps. `refresh` brings
    /// a visited key's `last_used` up to date first (with uses the books
    /// learn of late).
    ///
    /// Each visited key costs O(log n); keys skipped or left are the only
    /// ones visited before the one found, so callers skip only keys that
    /// some limit bounds, and let go of those that no longer belong.
    pub(crate) fn find(
        &mut self,
        keys: &mut KeyMap<K, KeyBook>,
        place: Place,
        mut refresh: impl FnMut(&K, &mut KeyBook),
        mut judge: impl FnMut(&K, &mut KeyBook) -> Verdict,
    ) -> Option<K> {
        let mut skipped = Vec::new();
        let found = loop {
            let Some(Reverse(entry)) = self.heap.pop() else {
                break None;
            };
            let Some(state) = keys.get_mut(&entry.key) else {
                continue;
            };
            if *place(state) != Some(entry.tick) {
                continue;
            }
            refresh(&entry.key, state);
            // Used since it was stamped: it goes back with its current stamp.
            if state.last_used != entry.tick {
                *place(state) = Some(state.last_used);
                self.heap.push(Reverse(Stamped {
                    tick: state.last_used,
                    key: entry.key,
                }));
                continue;
            }
            match judge(&entry.key, state) {
                Verdict::Take => {
                    *place(state) = None;
                    break Some(entry.key);
                }
                Verdict::Keep => {
                    let key = entry.key.clone();
                    skipped.push(Reverse(entry));
                    break Some(key);
                }
                Verdict::Skip => skipped.push(Reverse(entry)),
                Verdict::Leave => *place(state) = None,
            }
        };
        self.heap.extend(skipped);
        found
    }

    /// Drops the dead entries once they could outnumber the live ones, so
    /// that forgetting keys never grows the order: amortized O(1) a
    /// forgotten key.
    pub(crate) fn compact(&mut self, keys: &mut KeyMap<K, KeyBook>, place: Place) {
        if self.heap.len() <= 2 * keys.len() + 16 {
            return;
        }
        self.heap.retain(|Reverse(entry)| {
            keys.get_mut(&entry.key)
                .is_some_and(|state| *place(state) == Some(entry.tick))
        });
    }

    /// How many entries the order holds, dead ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::keys::place_all;

    use crate::book::keymap::KeyHasher;

    type Keys = KeyMap<u32, KeyBook>;

    fn remember(keys: &mut Keys, recency: &mut Recency<u32>, key: u32, tick: u64) {
        let hash = keys.hasher().hash(&key);
        let state = keys.get_or_insert_with(&key, || KeyBook::new(hash, tick));
        recency.insert(&key, place_all(state), tick);
    }

    /// Keys `0..n`, key `k` used at tick `k`.
    fn keys_used_in_order(n: u32) -> (Keys, Recency<u32>) {
        let mut keys = Keys::new(KeyHasher::default());
        let mut recency = Recency::new();
        for key in 0..n {
            remember(&mut keys, &mut recency, key, u64::from(key));
        }
        (keys, recency)
    }

    fn take_first(recency: &mut Recency<u32>, keys: &mut Keys) -> Option<u32> {
        recency.find(keys, place_all, |_, _| {}, |_, _| Verdict::Take)
    }

    fn take_if(accept: bool) -> Verdict {
        if accept { Verdict::Take } else { Verdict::Skip }
    }

    #[test]
    fn the_key_used_least_recently_is_found_after_later_uses_reorder_them() {
        let (mut keys, mut recency) = keys_used_in_order(5);
        // Keys 0 and 1 are used again, 1 last: 2 is now the oldest.
        keys.get_mut(&0).unwrap().last_used = 10;
        keys.get_mut(&1).unwrap().last_used = 11;
        let mut order = Vec::new();
        while let Some(key) = take_first(&mut recency, &mut keys) {
            keys.remove(&key);
            order.push(key);
        }
        assert_eq!(order, [2, 3, 4, 0, 1]);
    }

    #[test]
    fn a_skipped_key_keeps_its_place() {
        let (mut keys, mut recency) = keys_used_in_order(3);
        let found = recency.find(
            &mut keys,
            place_all,
            |_, _| {},
            |_, s| take_if(s.last_used != 0),
        );
        assert_eq!(found, Some(1));
        keys.remove(&1);
        assert_eq!(recency.len(), 2);
        assert_eq!(take_first(&mut recency, &mut keys), Some(0));
    }

    #[test]
    fn a_kept_key_stays_and_a_key_that_left_is_not_visited_again() {
        let (mut keys, mut recency) = keys_used_in_order(3);
        let found = recency.find(
            &mut keys,
            place_all,
            |_, _| {},
            |&k, _| {
                if k == 0 {
                    Verdict::Leave
                } else {
                    Verdict::Keep
                }
            },
        );
        assert_eq!(found, Some(1));
        let mut visited = Vec::new();
        let none = recency.find(
            &mut keys,
            place_all,
            |_, _| {},
            |&k, _| {
                visited.push(k);
                Verdict::Skip
            },
        );
        assert_eq!(none, None);
        assert_eq!(visited, [1, 2], "0 left the order; 1 was kept");
        // Inserted again, the key that left is back.
        remember(&mut keys, &mut recency, 0, 5);
        assert_eq!(take_first(&mut recency, &mut keys), Some(1));
    }

    #[test]
    fn a_key_forgotten_and_remembered_again_has_one_live_entry() {
        let mut keys = Keys::new(KeyHasher::default());
        let mut recency = Recency::new();
        remember(&mut keys, &mut recency, 7, 1);
        // Forgotten without passing through the order: its entry is dead.
        keys.remove(&7);
        remember(&mut keys, &mut recency, 7, 2);
        assert_eq!(recency.len(), 2);
        let mut visits = 0;
        let none = recency.find(
            &mut keys,
            place_all,
            |_, _| {},
            |_, _| {
                visits += 1;
                Verdict::Skip
            },
        );
        assert_eq!((none, visits), (None, 1));
    }

    #[test]
    fn forgetting_many_keys_does_not_grow_the_order() {
        let mut keys = Keys::new(KeyHasher::default());
        let mut recency = Recency::new();
        for key in 0..1_000u32 {
            remember(&mut keys, &mut recency, key, u64::from(key));
            // Only the last key is remembered; its predecessors' entries die.
            keys.retain(|&k, _| k == key);
            recency.compact(&mut keys, place_all);
        }
        assert!(recency.len() <= 2 * keys.len() + 17, "{}", recency.len());
    }
}
