//! What the pool's lock protects.

use std::collections::{HashMap, VecDeque};

use timewait_core::ledger::{Destination, TimeWaitLedger};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::key::Key;
use crate::pool::recency::Recency;
use crate::pool::slot::Slot;
use crate::stats::{Activity, KeyStats};

/// A connection and its history.
#[derive(Debug)]
pub(crate) struct Conn<C> {
    pub(crate) io: C,
    pub(crate) created: Instant,
    pub(crate) uses: u64,
    /// Boxed: read only when the connection is retired, while the
    /// connection moves through every checkout and check-in, where a smaller
    /// `Conn` is a cheaper move.
    pub(crate) destination: Option<Box<Destination>>,
}

/// A connection in the idle set.
#[derive(Debug)]
pub(crate) struct Idle<C> {
    pub(crate) conn: Conn<C>,
    /// When the pool stops lending it: idle limit or lifetime, the earlier.
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

/// One key's connections, waiters and counts.
#[derive(Debug)]
pub(crate) struct KeyState<K: Key, C: Connection> {
    /// LIFO at the back (the warmest connection is lent first); the front is
    /// the one idle longest, evicted first.
    pub(crate) idle: VecDeque<Idle<C>>,
    /// Idle, lent and connecting.
    pub(crate) open: usize,
    pub(crate) connecting: usize,
    pub(crate) waiters: VecDeque<oneshot::Sender<Handoff<K, C>>>,
    /// Learned from the key's first connection; the ledger's key.
    pub(crate) destination: Option<Destination>,
    /// The pool's use counter when the key was last used (for LRU).
    pub(crate) last_used: u64,
    pub(crate) activity: Activity,
}

impl<K: Key, C: Connection> KeyState<K, C> {
    pub(crate) fn new(tick: u64) -> Self {
        KeyState {
            idle: VecDeque::new(),
            open: 0,
            connecting: 0,
            waiters: VecDeque::new(),
            destination: None,
            last_used: tick,
            activity: Activity::default(),
        }
    }

    pub(crate) fn stats(&self, ledger: &TimeWaitLedger, now: std::time::Instant) -> KeyStats {
        let idle = self.idle.len();
        KeyStats {
            open: self.open,
            idle,
            in_use: self.open.saturating_sub(idle + self.connecting),
            connecting: self.connecting,
            waiting: self.waiters.iter().filter(|w| !w.is_closed()).count(),
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
    /// The keys in order of use, for `max_keys`.
    recency: Recency<K>,
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
            next_reap: None,
            closed: false,
        }
    }

    /// The next use tick.
    pub(crate) fn tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Remembers a new key, used at `tick`. At `max_keys`, the least
    /// recently used keys with nothing lent, nothing being made and nobody
    /// waiting are forgotten first; their idle connections go to `evicted`
    /// (their open counts already taken off) to be retired by the caller
    /// once the lock is released. When every key is busy the new key is
    /// remembered anyway (see `PoolBuilder::max_keys`).
    pub(crate) fn add_key(
        &mut self,
        key: &K,
        tick: u64,
        max_keys: usize,
        evicted: &mut Vec<(K, Conn<C>)>,
    ) -> &mut KeyState<K, C> {
        while self.keys.len() >= max_keys {
            let Some(victim) = self.recency.take_least_recent(&mut self.keys, |s| {
                s.waiters.retain(|w| !w.is_closed());
                s.open == s.idle.len() && s.waiters.is_empty()
            }) else {
                break;
            };
            if let Some(state) = self.keys.remove(&victim) {
                self.total_open = self.total_open.saturating_sub(state.open);
                evicted.extend(state.idle.into_iter().map(|i| (victim.clone(), i.conn)));
            }
        }
        self.recency.added(key.clone(), tick);
        self.keys
            .entry(key.clone())
            .or_insert_with(|| KeyState::new(tick))
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
    /// connection.
    pub(crate) fn least_recent_with_idle(&self, except: &K) -> Option<K> {
        self.keys
            .iter()
            .filter(|(k, s)| !s.idle.is_empty() && *k != except)
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| k.clone())
    }
}
