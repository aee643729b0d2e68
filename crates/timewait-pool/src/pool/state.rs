//! What the pool's lock protects.

use std::collections::{HashMap, VecDeque};

use timewait_core::ledger::{Destination, TimeWaitLedger};
use tokio::time::Instant;

use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::queue::Queue;
use crate::pool::recency::{Recency, Verdict};
use crate::pool::slot::Slot;
use crate::pool::unreleased::UnreleasedWatch;
use crate::stats::{Activity, KeyStats};

/// A connection in the idle set.
#[derive(Debug)]
pub(crate) struct Idle<K: Key, C: Connection> {
    pub(crate) conn: Conn<C>,
    /// When the pool stops lending it: idle limit or lifetime, the earlier.
    pub(crate) deadline: Option<Instant>,
    /// When it came back.
    pub(crate) since: Instant,
    /// The slot it was lent with, disarmed (the idle set holds its unit):
    /// kept so that lending it again clones neither the key nor the pool's
    /// handle.
    pub(crate) slot: Slot<K, C>,
}

impl<K: Key, C: Connection> Idle<K, C> {
    /// Takes the connection out of the idle set: its slot holds its unit
    /// again.
    pub(crate) fn into_lent(self) -> (Conn<C>, Slot<K, C>) {
        let mut slot = self.slot;
        slot.rearm();
        (self.conn, slot)
    }

    /// When it came back and when it stops being lent.
    pub(crate) fn times(&self) -> IdleTimes {
        IdleTimes {
            since: Some(self.since),
            deadline: self.deadline,
        }
    }
}

/// When a connection offered for reuse came back, and when it stops being
/// lent; both `None` for one handed over as it comes back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdleTimes {
    pub(crate) since: Option<Instant>,
    pub(crate) deadline: Option<Instant>,
}

/// What a waiting checkout receives.
#[derive(Debug)]
pub(crate) enum Handoff<K: Key, C: Connection> {
    /// A connection checked in by another checkout, with its slot.
    Conn(Conn<C>, Slot<K, C>),
    /// Room to make a new connection (a connecting slot).
    Slot(Slot<K, C>),
}

/// One key's connections and counts.
#[derive(Debug)]
pub(crate) struct KeyState<K: Key, C: Connection> {
    /// LIFO at the back (the warmest connection is lent first); the front is
    /// the one idle longest, evicted first.
    pub(crate) idle: VecDeque<Idle<K, C>>,
    /// Idle, lent and connecting.
    pub(crate) open: usize,
    pub(crate) connecting: usize,
    /// Learned from the key's first connection; the ledger's key.
    pub(crate) destination: Option<Destination>,
    /// The pool's use counter when the key was last used (for LRU).
    pub(crate) last_used: u64,
    pub(crate) places: Places,
    pub(crate) activity: Activity,
    pub(crate) unreleased: UnreleasedWatch,
}

/// A key's places in the pool's orders by recency: the stamp of its live
/// entry in each, `None` when it is not in it.
#[derive(Debug, Default)]
pub(crate) struct Places {
    /// Every remembered key.
    pub(crate) all: Option<u64>,
    /// Keys with no connection at all: the first to forget at `max_keys`.
    pub(crate) empty: Option<u64>,
    /// Keys that had an idle connection when last seen: where the total
    /// cap takes its victim.
    pub(crate) idle: Option<u64>,
}

pub(crate) fn place_all<K: Key, C: Connection>(state: &mut KeyState<K, C>) -> &mut Option<u64> {
    &mut state.places.all
}

pub(crate) fn place_empty<K: Key, C: Connection>(state: &mut KeyState<K, C>) -> &mut Option<u64> {
    &mut state.places.empty
}

pub(crate) fn place_idle<K: Key, C: Connection>(state: &mut KeyState<K, C>) -> &mut Option<u64> {
    &mut state.places.idle
}

impl<K: Key, C: Connection> KeyState<K, C> {
    pub(crate) fn new(tick: u64) -> Self {
        KeyState {
            idle: VecDeque::new(),
            open: 0,
            connecting: 0,
            destination: None,
            last_used: tick,
            places: Places::default(),
            activity: Activity::default(),
            unreleased: UnreleasedWatch::default(),
        }
    }

    /// The key's snapshot; `waiting` is counted from the pool's queue.
    pub(crate) fn stats(
        &self,
        ledger: &TimeWaitLedger,
        now: std::time::Instant,
        waiting: usize,
    ) -> KeyStats {
        let idle = self.idle.len();
        KeyStats {
            open: self.open,
            idle,
            in_use: self.open.saturating_sub(idle + self.connecting),
            connecting: self.connecting,
            waiting,
            local_time_wait: self.destination.map_or(0, |d| ledger.live(&d, now)),
            activity: self.activity,
        }
    }
}

/// Everything behind the pool's lock.
#[derive(Debug)]
pub(crate) struct State<K: Key, C: Connection> {
    pub(crate) keys: HashMap<K, KeyState<K, C>>,
    pub(crate) total_open: usize,
    pub(crate) ledger: TimeWaitLedger,
    /// Activity of every key, forgotten ones included.
    pub(crate) activity: Activity,
    /// Counts uses, to order keys by recency.
    tick: u64,
    /// Every key in order of use, for `max_keys`.
    recency: Recency<K>,
    /// The keys with no connection, in order of use, for `max_keys`.
    pub(crate) empty_keys: Recency<K>,
    /// The keys with idle connections, in order of use, for `max_total`.
    pub(crate) idle_keys: Recency<K>,
    /// Checkouts waiting for a connection or for room, first come first
    /// served across keys.
    pub(crate) queue: Queue<K, C>,
    /// The earliest idle deadline the reaper was told of.
    pub(crate) next_reap: Option<Instant>,
    pub(crate) closed: bool,
}

impl<K: Key, C: Connection> State<K, C> {
    pub(crate) fn new(ledger: TimeWaitLedger) -> Self {
        State {
            keys: HashMap::new(),
            total_open: 0,
            ledger,
            activity: Activity::default(),
            tick: 0,
            recency: Recency::new(),
            empty_keys: Recency::new(),
            idle_keys: Recency::new(),
            queue: Queue::new(),
            next_reap: None,
            closed: false,
        }
    }

    /// The next use tick.
    pub(crate) fn tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Remembers a new key, used at `tick`. At `max_keys`, keys with no
    /// connection at all are forgotten first (that is free), the least
    /// recently used first; then the least recently used keys with nothing
    /// lent and nothing being made, whose idle connections
    /// go to `evicted` (their open counts already taken off) to be retired
    /// by the caller once the lock is released. When every key is busy the
    /// new key is remembered anyway (see `PoolBuilder::max_keys`).
    pub(crate) fn add_key(
        &mut self,
        key: &K,
        tick: u64,
        max_keys: usize,
        evicted: &mut Vec<Idle<K, C>>,
    ) -> &mut KeyState<K, C> {
        let mut forgot = false;
        while self.keys.len() >= max_keys {
            let Some(victim) = self.forgettable() else {
                break;
            };
            if let Some(state) = self.keys.remove(&victim) {
                self.total_open = self.total_open.saturating_sub(state.open);
                evicted.extend(state.idle);
                forgot = true;
            }
        }
        if forgot {
            // A forgotten key's entries in the other orders are dead now.
            self.recency.compact(&mut self.keys, place_all);
            self.empty_keys.compact(&mut self.keys, place_empty);
            self.idle_keys.compact(&mut self.keys, place_idle);
        }
        let state = self
            .keys
            .entry(key.clone())
            .or_insert_with(|| KeyState::new(tick));
        self.recency.insert(key, &mut state.places.all, tick);
        state
    }

    /// The key `max_keys` forgets next: the least recently used with no
    /// connection, else the least recently used that is not busy.
    fn forgettable(&mut self) -> Option<K> {
        // A checkout waiting for a key holds no state of it: forgetting the
        // key only means it is remembered again when the checkout is served.
        let empty = self.empty_keys.find(&mut self.keys, place_empty, |_, s| {
            if s.open == 0 {
                Verdict::Take
            } else {
                // It has connections again; it comes back when it empties.
                Verdict::Leave
            }
        });
        empty.or_else(|| {
            self.recency.find(&mut self.keys, place_all, |_, s| {
                if s.open == s.idle.len() {
                    Verdict::Take
                } else {
                    Verdict::Skip
                }
            })
        })
    }

    /// A connection of `key` is gone, or will never be made: one unit fewer
    /// for the key and for the pool. A key left with no connection can then
    /// be forgotten for free.
    pub(crate) fn unit_closed(&mut self, key: &K) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 {
                let (place, tick) = (&mut entry.places.empty, entry.last_used);
                self.empty_keys.insert(key, place, tick);
            }
        }
        self.total_open = self.total_open.saturating_sub(1);
    }

    /// Takes back a reuse counted for an idle connection of `key` that was
    /// then not lent: from the pool's total, and from the key's if it is
    /// still remembered.
    pub(crate) fn uncount_reuse(&mut self, key: &K) {
        self.activity.reuses = self.activity.reuses.saturating_sub(1);
        if let Some(entry) = self.keys.get_mut(key) {
            entry.activity.reuses = entry.activity.reuses.saturating_sub(1);
        }
    }

    /// The least recently used key other than `except` that has an idle
    /// connection. Keys whose idle set has emptied leave the order as they
    /// are met, so a search visits few keys besides the one it finds.
    pub(crate) fn least_recent_with_idle(&mut self, except: &K) -> Option<K> {
        self.idle_keys
            .find(&mut self.keys, place_idle, |key, state| {
                if state.idle.is_empty() {
                    Verdict::Leave
                } else if key == except {
                    Verdict::Skip
                } else {
                    Verdict::Keep
                }
            })
    }
}
