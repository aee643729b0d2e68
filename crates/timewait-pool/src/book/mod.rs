//! The pool's books: every count, idle set and waiting checkout, as a value
//! with no clock, no runtime and no socket.
//!
//! Each step (lend, give back room, check in, reap, close) takes the time it
//! needs as an argument and returns what the caller must do once it lets go
//! of the lock the books live under: items to retire, waiting checkouts to
//! tell, the reaper to wake. Nothing here can wake a task, close a socket or
//! drop a guard that takes the lock again, because nothing here holds one:
//! connections are opaque items `I`, waiting checkouts opaque waiters `W`
//! that are only asked whether anyone still listens ([`Waiting`]).
//!
//! The idle connections themselves are kept apart, in [stripes](idle) with
//! locks of their own, so that the commonest steps (an idle connection
//! lent, a released one parked) can skip the books' lock when no limit
//! binds; every step of the books takes those stripes after the books.
//!
//! The steps are checked against a plain model by property tests
//! (`model/`), without tokio.

mod checkin;
mod idle;
mod keymap;
mod keys;
mod lend;
#[cfg(test)]
mod model;
mod queue;
mod recency;
mod record;
mod sweep;
pub(crate) mod unreleased;

use std::sync::Arc;

use timewait_core::ledger::TimeWaitLedger;
use tokio::time::Instant;

use crate::config::{Ends, Limits};
use crate::key::Key;
use crate::stats::Activity;

pub(crate) use checkin::{Checkin, Refusal};
pub(crate) use idle::{IdleSets, IdleTimes, Keyed, StripeRef};
pub(crate) use keymap::{KeyHash, KeyHasher};
pub(crate) use keys::KeyBook;
pub(crate) use lend::{Effects, Lend};
pub(crate) use queue::Waiting;

use idle::{IdleSet, Tally};
use keymap::KeyMap;
use keys::{place_all, place_empty, place_idle};
use queue::Queue;
use recency::{Recency, Verdict};

/// The books of one pool (see the [module](self)).
#[derive(Debug)]
pub(crate) struct Book<K: Key, I, W> {
    pub(crate) limits: Limits,
    pub(crate) keys: KeyMap<K, KeyBook>,
    /// Every key's idle connections, shared with the pool's fast steps.
    idle: Arc<IdleSets<K, I>>,
    pub(crate) total_open: usize,
    pub(crate) ledger: TimeWaitLedger,
    /// Activity of every key, forgotten ones included, but for the reuses
    /// and releases the idle sets of remembered keys count and the books'
    /// share of them (see [`Book::activity`]).
    activity: Activity,
    /// The books' share of the pool's reuses and releases, with the counts
    /// of forgotten keys' idle sets.
    tally: Tally,
    /// Counts uses, to order keys by recency.
    tick: u64,
    /// Every key in order of use, for `max_keys`.
    recency: Recency<K>,
    /// The keys with no connection, in order of use, for `max_keys`.
    empty_keys: Recency<K>,
    /// The keys with idle connections, in order of use, for `max_total`.
    idle_keys: Recency<K>,
    /// Checkouts waiting for a connection or for room, first come first
    /// served across keys.
    queue: Queue<K, W>,
    /// The earliest deadline the reaper was told of.
    pub(crate) next_reap: Option<Instant>,
    /// How many times the waiting flag was raised: while it stays up, an
    /// idle set the books saw empty stays empty but for their own parks
    /// (see [`KeyBook::seen_empty`]).
    raised: u64,
    pub(crate) closed: bool,
}

impl<K: Key, I, W: Waiting> Book<K, I, W> {
    /// Books under `limits`, whose idle sets give each lease the rules
    /// that end its connection's use or rest (`ends`), for its release.
    pub(crate) fn new(
        limits: Limits,
        ends: Ends,
        ledger: TimeWaitLedger,
        hasher: KeyHasher,
    ) -> Self {
        Book {
            limits,
            keys: KeyMap::new(hasher),
            idle: Arc::new(IdleSets::new(
                limits.max_keys,
                limits.max_idle_per_key,
                ends,
            )),
            total_open: 0,
            ledger,
            activity: Activity::default(),
            tally: Tally::default(),
            tick: 0,
            recency: Recency::new(),
            empty_keys: Recency::new(),
            idle_keys: Recency::new(),
            queue: Queue::new(),
            next_reap: None,
            raised: 0,
            closed: false,
        }
    }

    /// Every key's idle connections, for the pool's fast steps.
    pub(crate) fn idle_sets(&self) -> &Arc<IdleSets<K, I>> {
        &self.idle
    }

    /// The pool's activity: the books' counts and the idle sets'.
    pub(crate) fn activity(&self) -> Activity {
        let mut activity = self.activity;
        let mut tally = self.tally;
        self.idle.for_each(|_, set| tally.add(set.counted));
        tally.add_to(&mut activity);
        activity
    }

    /// The next use tick.
    fn tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Remembers a new key, used at `tick`. At `max_keys`, keys with no
    /// connection at all are forgotten first (that is free), the least
    /// recently used first; then the least recently used keys with nothing
    /// lent and nothing being made, whose idle items go to `evicted` (their
    /// open counts already taken off). When every key is busy the new key is
    /// remembered anyway (see `PoolBuilder::max_keys`).
    fn add_key(&mut self, key: &K, tick: u64, evicted: &mut Vec<I>) -> &mut KeyBook {
        let mut forgot = false;
        while self.keys.len() >= self.limits.max_keys {
            let Some(victim) = self.forgettable() else {
                break;
            };
            let Some(&KeyBook { hash, open, .. }) = self.keys.get(&victim) else {
                continue;
            };
            self.idle.window();
            // Still at rest under its stripe's lock: a checkout may have
            // taken one of its idle connections since the books looked, and a
            // key with a connection out is never forgotten.
            let Some(set) = self
                .idle
                .remove_if(hash, &victim, |set| set.parked.len() == open)
            else {
                // It keeps its place in the order of use, and the new key
                // is remembered past the bound, as when every key is busy.
                if let Some(entry) = self.keys.get_mut(&victim) {
                    let tick = entry.last_used;
                    self.recency.insert(&victim, place_all(entry), tick);
                }
                break;
            };
            self.keys.remove(&victim);
            self.total_open = self.total_open.saturating_sub(open);
            self.forget_set(set, evicted);
            forgot = true;
        }
        if forgot {
            // A forgotten key's entries in the other orders are dead now.
            self.recency.compact(&mut self.keys, place_all);
            self.empty_keys.compact(&mut self.keys, place_empty);
            self.idle_keys.compact(&mut self.keys, place_idle);
        }
        let hash = self.keys.hasher().hash(key);
        self.idle.insert(self.keys.hasher(), hash, key);
        let entry = self
            .keys
            .get_or_insert_with(key, || KeyBook::new(hash, tick));
        self.recency.insert(key, &mut entry.places.all, tick);
        entry
    }

    /// A forgotten key's idle set: its counts stay in the pool's, its idle
    /// connections go to `evicted`.
    fn forget_set(&mut self, set: IdleSet<I>, evicted: &mut Vec<I>) {
        self.tally.add(set.counted);
        evicted.extend(set.parked.into_iter().map(|parked| parked.item));
    }

    /// The key `max_keys` forgets next: the least recently used with no
    /// connection, else the least recently used at rest.
    fn forgettable(&mut self) -> Option<K> {
        // A checkout waiting for a key holds no entry of it: forgetting the
        // key only means it is remembered again when the checkout is served.
        let (idle, tick) = (&*self.idle, &mut self.tick);
        let empty = self.empty_keys.find(
            &mut self.keys,
            place_empty,
            |k, e| seen_used(idle, tick, k, e),
            |_, e| {
                if e.open == 0 {
                    Verdict::Take
                } else {
                    // It has connections again; it comes back when it empties.
                    Verdict::Leave
                }
            },
        );
        empty.or_else(|| {
            self.recency.find(
                &mut self.keys,
                place_all,
                |k, e| seen_used(idle, tick, k, e),
                |k, e| {
                    // Nothing lent and nothing being made.
                    let idle = idle.with(e.hash, k, |set| set.parked.len());
                    if e.open == idle.unwrap_or(0) {
                        Verdict::Take
                    } else {
                        Verdict::Skip
                    }
                },
            )
        })
    }

    /// A connection of `key` is gone, or will never be made: one unit fewer
    /// for the key and for the pool. A key left with no connection can then
    /// be forgotten for free.
    fn unit_closed(&mut self, key: &K) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 {
                let (place, tick) = (&mut entry.places.empty, entry.last_used);
                self.empty_keys.insert(key, place, tick);
            }
        }
        self.total_open = self.total_open.saturating_sub(1);
    }

    /// Takes back a reuse counted for a connection of `key` that was then
    /// not lent (it failed its check, or its waiter had gone): from the
    /// books' share, wherever it was counted (see [`Tally`]).
    pub(crate) fn uncount_reuse(&mut self, key: &K) {
        self.tally.reuses -= 1;
        if let Some(entry) = self.keys.get_mut(key) {
            entry.tally.reuses -= 1;
        }
    }

    /// Counts reuses and releases of `key` (whose hash is `hash`) in the
    /// books' share, the key's and the pool's: no look into its idle set.
    fn count_in_books(&mut self, key: &K, hash: KeyHash, reuses: i64, released: i64) {
        self.tally.reuses += reuses;
        self.tally.released += released;
        if let Some(entry) = self.keys.get_mut_hashed(hash, key) {
            entry.tally.reuses += reuses;
            entry.tally.released += released;
        }
    }

    /// The least recently used key other than `except` that has an idle
    /// connection. Keys whose idle set has emptied leave the order as they
    /// are met, so a search visits few keys besides the one it finds.
    fn least_recent_with_idle(&mut self, except: &K) -> Option<K> {
        let (idle, tick) = (&*self.idle, &mut self.tick);
        self.idle_keys.find(
            &mut self.keys,
            place_idle,
            |k, e| seen_used(idle, tick, k, e),
            |key, entry| {
                let empty = idle.with(entry.hash, key, |set| {
                    // Out of the order, parks go through the books again.
                    let empty = set.parked.is_empty();
                    set.listed &= !empty;
                    empty
                });
                if empty.unwrap_or(true) {
                    Verdict::Leave
                } else if key == except {
                    Verdict::Skip
                } else {
                    Verdict::Keep
                }
            },
        )
    }

    /// Whether `key` may open another connection: it is unknown, or under
    /// its limit.
    fn under_limit(&self, key: &K) -> bool {
        let max = self.limits.max_open_per_key;
        self.keys.get(key).is_none_or(|entry| entry.open < max)
    }

    /// Asks the earliest reaper round to come by `at`: whether the reaper
    /// must be woken for it.
    fn reap_by(&mut self, at: Option<Instant>) -> bool {
        let earlier = at.is_some_and(|at| self.next_reap.is_none_or(|next| at < next));
        if earlier {
            self.set_next_reap(at);
        }
        earlier
    }

    /// The reaper's next round, told to the fast parks too.
    fn set_next_reap(&mut self, at: Option<Instant>) {
        self.next_reap = at;
        self.idle.set_next_reap(at);
    }

    /// Tells the fast parks whether checkouts wait.
    fn publish_queue(&mut self) {
        self.set_waiting(!self.queue.is_empty());
    }

    /// Tells the fast parks whether checkouts wait, counting each raise.
    fn set_waiting(&mut self, waiting: bool) {
        if self.idle.set_waiting(waiting) {
            self.raised += 1;
        }
    }
}

/// Brings `entry`'s last use up to date with its idle set: lent from since
/// the books last looked, it counts as used now (the orders by recency see
/// a fast lend when they next meet the key, as a clock sweep would).
fn seen_used<K: Key, I>(idle: &IdleSets<K, I>, tick: &mut u64, key: &K, entry: &mut KeyBook) {
    let lends = idle.with(entry.hash, key, |set| set.lends);
    if let Some(lends) = lends.filter(|&lends| lends != entry.seen_lends) {
        entry.seen_lends = lends;
        *tick += 1;
        entry.last_used = *tick;
    }
}
