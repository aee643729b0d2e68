//! One key's entry in the books: its counts and its places in the orders
//! by recency (its idle connections are in its [idle set](crate::book::idle)).

use timewait_core::ledger::{Destination, TimeWaitLedger};

use crate::book::idle::{IdleSet, Tally};
use crate::book::keymap::KeyHash;
use crate::book::unreleased::UnreleasedWatch;
use crate::stats::{Activity, KeyStats};

/// One key's counts.
#[derive(Debug)]
pub(crate) struct KeyBook {
    /// The key's hash: where its idle set is.
    pub(crate) hash: KeyHash,
    /// Idle, lent and connecting.
    pub(crate) open: usize,
    pub(crate) connecting: usize,
    /// Learned from the key's first connection; the ledger's key.
    pub(crate) destination: Option<Destination>,
    /// The books' use counter when the key was last seen used (for LRU).
    pub(crate) last_used: u64,
    /// Its idle set's lends when the books last looked: a lend since is a
    /// use the books did not see.
    pub(crate) seen_lends: u64,
    /// The raise of the waiting flag during which the books last found the
    /// key's idle set empty, if they have not parked in it since. While the
    /// flag stays up, every park goes through the books, so the set is
    /// still empty and a checkout need not take its stripe's lock to see
    /// it (a busy key at its limit, where every checkout waits). This rests
    /// on three things: the look that sets the mark takes the stripe's lock
    /// after the raise; every write of the flag goes through
    /// `Book::set_waiting`, which counts the raises; and the books' only
    /// way into a set (`take_back`'s park) clears the mark. A new way in,
    /// or a write of the flag that bypasses the count, must keep them.
    pub(crate) seen_empty: Option<u64>,
    pub(crate) places: Places,
    /// Counted by the books; its idle set counts reuses and releases.
    pub(crate) activity: Activity,
    /// The books' share of its reuses and releases.
    pub(crate) tally: Tally,
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

pub(crate) fn place_all(entry: &mut KeyBook) -> &mut Option<u64> {
    &mut entry.places.all
}

pub(crate) fn place_empty(entry: &mut KeyBook) -> &mut Option<u64> {
    &mut entry.places.empty
}

pub(crate) fn place_idle(entry: &mut KeyBook) -> &mut Option<u64> {
    &mut entry.places.idle
}

impl KeyBook {
    pub(crate) fn new(hash: KeyHash, tick: u64) -> Self {
        KeyBook {
            hash,
            open: 0,
            connecting: 0,
            destination: None,
            last_used: tick,
            seen_lends: 0,
            seen_empty: None,
            places: Places::default(),
            activity: Activity::default(),
            tally: Tally::default(),
            unreleased: UnreleasedWatch::default(),
        }
    }

    /// The key's whole activity: the books' counts and its idle set's.
    pub(crate) fn activity_with<I>(&self, set: &IdleSet<I>) -> Activity {
        let mut activity = self.activity;
        let mut tally = self.tally;
        tally.add(set.counted);
        tally.add_to(&mut activity);
        activity
    }

    /// The key's snapshot, with its idle set; `waiting` is counted from
    /// the queue.
    pub(crate) fn stats<I>(
        &self,
        set: &IdleSet<I>,
        ledger: &TimeWaitLedger,
        now: std::time::Instant,
        waiting: usize,
    ) -> KeyStats {
        let idle = set.parked.len();
        let activity = self.activity_with(set);
        KeyStats {
            open: self.open,
            idle,
            in_use: self.open.saturating_sub(idle + self.connecting),
            connecting: self.connecting,
            waiting,
            local_time_wait: self.destination.map_or(0, |d| ledger.live(&d, now)),
            activity,
        }
    }
}
