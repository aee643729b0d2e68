//! One key's entry in the books: its idle connections, its counts, its
//! places in the orders by recency.

use std::collections::VecDeque;

use timewait_core::ledger::{Destination, TimeWaitLedger};
use tokio::time::Instant;

use crate::book::unreleased::UnreleasedWatch;
use crate::stats::{Activity, KeyStats};

/// An idle connection, as the books keep it: the caller's item (opaque
/// here), when it came back, and when the pool stops lending it.
#[derive(Debug)]
pub(crate) struct Parked<I> {
    pub(crate) item: I,
    pub(crate) times: IdleTimes,
}

/// When a connection offered for reuse came back, and when it stops being
/// lent (idle limit or lifetime, the earlier); both `None` for one handed
/// over as it comes back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdleTimes {
    pub(crate) since: Option<Instant>,
    pub(crate) deadline: Option<Instant>,
}

/// One key's connections and counts.
#[derive(Debug)]
pub(crate) struct KeyBook<I> {
    /// LIFO at the back (the warmest connection is lent first); the front is
    /// the one idle longest, evicted first.
    pub(crate) idle: VecDeque<Parked<I>>,
    /// Idle, lent and connecting.
    pub(crate) open: usize,
    pub(crate) connecting: usize,
    /// Learned from the key's first connection; the ledger's key.
    pub(crate) destination: Option<Destination>,
    /// The books' use counter when the key was last used (for LRU).
    pub(crate) last_used: u64,
    pub(crate) places: Places,
    pub(crate) activity: Activity,
    pub(crate) unreleased: UnreleasedWatch,
}

/// A key's places in the orders by recency: the stamp of its live entry in
/// each, `None` when it is not in it.
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

pub(crate) fn place_all<I>(entry: &mut KeyBook<I>) -> &mut Option<u64> {
    &mut entry.places.all
}

pub(crate) fn place_empty<I>(entry: &mut KeyBook<I>) -> &mut Option<u64> {
    &mut entry.places.empty
}

pub(crate) fn place_idle<I>(entry: &mut KeyBook<I>) -> &mut Option<u64> {
    &mut entry.places.idle
}

impl<I> KeyBook<I> {
    pub(crate) fn new(tick: u64) -> Self {
        KeyBook {
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

    /// Whether nothing of the key is lent or being made.
    pub(crate) fn is_at_rest(&self) -> bool {
        self.open == self.idle.len()
    }

    /// The key's snapshot; `waiting` is counted from the queue.
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
