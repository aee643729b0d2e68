//! Capacity: taking an idle connection or room to connect, and giving a
//! unit of room back, within the key's limit and the pool's total.
//!
//! A unit of room is one connection of one key counted open (and so under
//! the pool's total). A checkout that finds its key at its limit, or the
//! pool at `max_total` with no idle connection of another key to evict,
//! waits in the queue, first come first served across keys. A unit given
//! back goes to the oldest waiting checkout it can serve: of the same key
//! (the unit stays), or of a key under its limit (the unit moves). So a key
//! whose connections never come (a server that never accepts) holds only the
//! units it is allowed, and nothing that another key's checkout needs.

use tokio::time::Instant;

use crate::book::Book;
use crate::book::idle::{IdleSet, IdleTimes};
use crate::book::keymap::KeyHash;
use crate::book::queue::{Queued, Waiting};
use crate::key::Key;

/// What a checkout found.
#[derive(Debug)]
pub(crate) enum Lend<I> {
    /// An idle connection (not yet checked for health or age), counted as
    /// reused, with when it came back and the deadline it was given.
    Idle(I, IdleTimes),
    /// A unit of room for a new connection, counted as connecting.
    Connect,
    /// The key is at its limit, or the pool at its total: the checkout is
    /// queued, with the waiter its `wait` made.
    Wait,
    /// The pool is shut down.
    Closed,
}

/// What a step leaves to do once the lock is released.
#[derive(Debug)]
pub(crate) struct Effects<K, I, W> {
    /// Items to retire whose units were already taken off: they hold none.
    pub(crate) evicted: Vec<I>,
    /// Units of room handed to waiting checkouts, each counted as
    /// connecting for its key: a waiter gone by the time it is told gives
    /// its unit back.
    pub(crate) room: Vec<(W, K)>,
    /// A waiting checkout's deadline comes before the reaper's next round.
    pub(crate) wake_reaper: bool,
}

impl<K, I, W> Effects<K, I, W> {
    pub(crate) fn new() -> Self {
        Effects {
            evicted: Vec::new(),
            room: Vec::new(),
            wake_reaper: false,
        }
    }

    /// Whether there is nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.evicted.is_empty() && self.room.is_empty() && !self.wake_reaper
    }
}

impl<K: Key, I, W: Waiting> Book<K, I, W> {
    /// Takes an idle connection of `key` (whose hash is `hash`, taken
    /// before the lock), or room to connect, or a place in the queue, for which `wait` makes the waiter and says when the
    /// checkout gives up. `refused`: what the caller took or was handed last
    /// was not lent after all (too old, unhealthy), so its reuse is
    /// uncounted.
    pub(crate) fn lend(
        &mut self,
        key: &K,
        hash: KeyHash,
        refused: bool,
        wait: impl FnOnce() -> (W, Option<Instant>),
        effects: &mut Effects<K, I, W>,
    ) -> Lend<I> {
        if refused {
            self.uncount_reuse(key);
        }
        if self.closed {
            return Lend::Closed;
        }
        // Counted as queued before the idle sets are looked at, so that a
        // release parking meanwhile either is seen here or sees this (see
        // the idle sets' concurrency note).
        self.set_waiting(true);
        let lent = self.lend_or_queue(key, hash, wait, effects);
        self.publish_queue();
        lent
    }

    fn lend_or_queue(
        &mut self,
        key: &K,
        hash: KeyHash,
        wait: impl FnOnce() -> (W, Option<Instant>),
        effects: &mut Effects<K, I, W>,
    ) -> Lend<I> {
        let tick = self.tick();
        if let Some(entry) = self.keys.get_mut_hashed(hash, key) {
            entry.last_used = tick;
            // The flag is up (raised above, or still up from a raise when
            // the set was seen empty): nothing parked there since but
            // through the books, which clear the mark.
            if entry.seen_empty != Some(self.raised) {
                match self.idle.with(hash, key, IdleSet::lend) {
                    Some(Some((item, times))) => return Lend::Idle(item, times),
                    _ => entry.seen_empty = Some(self.raised),
                }
            } else {
                // Checked in tests, the model's among them: what the mark
                // rests on must hold whatever runs beside this step.
                debug_assert!(
                    self.idle
                        .with(hash, key, |set| set.parked.is_empty())
                        .unwrap_or(true),
                    "an idle set marked empty holds a connection"
                );
            }
        }
        if self.under_limit(key) {
            if self.total_open < self.limits.max_total {
                self.count_connecting(key, tick, &mut effects.evicted);
                // Forgetting keys to make room for this one may free more.
                self.hand_out_room(effects);
                return Lend::Connect;
            }
            // At the total cap: the idle connection of the least recently
            // used other key makes room. Its unit leaves in this step, so no
            // snapshot ever counts more than `max_total` connections.
            let victim = self.evict_for(key);
            if let Some(item) = victim {
                effects.evicted.push(item);
                self.count_connecting(key, tick, &mut effects.evicted);
                return Lend::Connect;
            }
        }
        let (waiter, deadline) = wait();
        effects.wake_reaper |= self.reap_by(deadline);
        self.activity.waits += 1;
        if let Some(entry) = self.keys.get_mut(key) {
            entry.activity.waits += 1;
        }
        self.queue.push(Queued {
            key: key.clone(),
            waiter,
            deadline,
        });
        Lend::Wait
    }

    /// Takes the idle connection idle longest of the least recently used
    /// key other than `key` out of the books, its unit with it. A set found
    /// empty here was emptied by a checkout since the order looked (it
    /// leaves the order when met empty): the next key is tried.
    fn evict_for(&mut self, key: &K) -> Option<I> {
        loop {
            let victim_key = self.least_recent_with_idle(key)?;
            let Some(victim_hash) = self.keys.get(&victim_key).map(|entry| entry.hash) else {
                continue;
            };
            self.idle.window();
            let popped = self
                .idle
                .with(victim_hash, &victim_key, |set| set.parked.pop_front());
            if let Some(Some(parked)) = popped {
                self.unit_closed(&victim_key);
                return Some(parked.item);
            }
        }
    }

    /// Gives a unit of `key` back (a connection closed, or never made):
    /// to the oldest waiting checkout it can serve (of `key`, or of a key
    /// under its limit), else to the counts.
    pub(crate) fn give_back(
        &mut self,
        key: &K,
        was_connecting: bool,
        effects: &mut Effects<K, I, W>,
    ) {
        let max = self.limits.max_open_per_key;
        // A forgotten key's counts left with it: only room is left to give.
        if let Some(entry) = self.keys.get_mut(key) {
            if was_connecting {
                entry.connecting = entry.connecting.saturating_sub(1);
            }
            let own = |k: &K| k == key;
            let keys = &self.keys;
            let served = self
                .queue
                .first(|k| own(k) || keys.get(k).is_none_or(|e| e.open < max))
                .map(|(place, k)| (place, own(k)));
            match served.and_then(|(place, own)| Some((self.queue.take(place)?, own))) {
                Some((queued, true)) => {
                    // The unit stays with the key.
                    if let Some(entry) = self.keys.get_mut(key) {
                        entry.connecting += 1;
                    }
                    effects.room.push((queued.waiter, key.clone()));
                }
                Some((queued, false)) => {
                    self.unit_closed(key);
                    let tick = self.tick();
                    self.count_connecting(&queued.key, tick, &mut effects.evicted);
                    effects.room.push((queued.waiter, queued.key));
                }
                None => self.unit_closed(key),
            }
        }
        self.hand_out_room(effects);
        self.publish_queue();
    }

    /// Counts a new connection of `key` as being made, remembering the key
    /// (and forgetting others, past `max_keys`, into `evicted`) if needed.
    fn count_connecting(&mut self, key: &K, tick: u64, evicted: &mut Vec<I>) {
        let entry = match self.keys.get_mut(key) {
            Some(entry) => entry,
            None => self.add_key(key, tick, evicted),
        };
        entry.open += 1;
        entry.connecting += 1;
        self.total_open += 1;
    }

    /// Gives the room under the total cap to the oldest waiting checkouts of
    /// keys under their limit.
    fn hand_out_room(&mut self, effects: &mut Effects<K, I, W>) {
        let max = self.limits.max_open_per_key;
        while self.total_open < self.limits.max_total {
            let keys = &self.keys;
            let Some((place, _)) = self
                .queue
                .first(|k| keys.get(k).is_none_or(|e| e.open < max))
            else {
                return;
            };
            let Some(queued) = self.queue.take(place) else {
                return;
            };
            let tick = self.tick();
            self.count_connecting(&queued.key, tick, &mut effects.evicted);
            effects.room.push((queued.waiter, queued.key));
        }
    }

    /// Whether the oldest waiting checkout that a connection of `key` could
    /// serve is one of another key, which waits for room under the total:
    /// the connection is then better retired to make that room.
    pub(super) fn room_wanted_before(&mut self, key: &K) -> bool {
        if self.queue.is_empty() || self.total_open < self.limits.max_total {
            return false;
        }
        let max = self.limits.max_open_per_key;
        let keys = &self.keys;
        self.queue
            .first(|k| k == key || keys.get(k).is_none_or(|e| e.open < max))
            .is_some_and(|(_, k)| k != key)
    }

    /// The oldest waiting checkout of `key`, taken out of the queue.
    pub(super) fn take_waiter_of(&mut self, key: &K) -> Option<W> {
        let (place, _) = self.queue.first(|k| k == key)?;
        self.queue.take(place).map(|queued| queued.waiter)
    }
}
