//! One key's idle set: its parked connections and what is counted there,
//! and the records the books keep of an idle connection.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::stats::Activity;

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

/// An item that knows its key: what a check-in and a park are given.
pub(crate) trait Keyed<K> {
    fn key(&self) -> &K;
}

/// One key's idle connections, and what the stripe counts for it.
#[derive(Debug)]
pub(crate) struct IdleSet<I> {
    /// LIFO at the back (the warmest connection is lent first); the front is
    /// the one idle longest, evicted first.
    pub(crate) parked: VecDeque<Parked<I>>,
    /// Reuses and releases counted under the stripe's lock (by either
    /// path): the key's and the pool's counts are the books' plus these.
    pub(crate) counted: Counted,
    /// Connections lent from the set since the key was remembered: a change
    /// tells the books' order by recency that the key was used.
    pub(crate) lends: u64,
    /// Whether the key is in the books' order of keys with idle
    /// connections, where the total cap looks for one to evict. A park into
    /// a set not in it goes through the books, which put it there.
    pub(crate) listed: bool,
}

/// What an idle set counts: two counters rather than a whole [`Activity`],
/// so that a stripe's entries stay small and a lookup touches few cache
/// lines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counted {
    pub(crate) reuses: u64,
    pub(crate) released: u64,
}

/// The books' share of a key's (or the pool's) reuses and releases: what
/// they counted (a connection handed to a waiter, a release through them),
/// less the reuses they took back. A reuse counted by an idle set and taken
/// back by the books (its connection failed its check) leaves the share
/// below zero; its sum with the sets' counts is exact.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    pub(crate) reuses: i64,
    pub(crate) released: i64,
}

impl Tally {
    /// Adds an idle set's counts.
    pub(crate) fn add(&mut self, counted: Counted) {
        self.reuses = self.reuses.saturating_add_unsigned(counted.reuses);
        self.released = self.released.saturating_add_unsigned(counted.released);
    }

    /// `activity` with this share (and the sets' counts added to it) in its
    /// reuses and releases.
    pub(crate) fn add_to(self, activity: &mut Activity) {
        activity.reuses = activity.reuses.saturating_add_signed(self.reuses);
        activity.released = activity.released.saturating_add_signed(self.released);
    }
}

impl<I> IdleSet<I> {
    pub(crate) fn new() -> Self {
        IdleSet {
            parked: VecDeque::new(),
            counted: Counted::default(),
            lends: 0,
            listed: false,
        }
    }

    /// Takes the warmest idle connection, counted as a reuse.
    pub(crate) fn lend(&mut self) -> Option<(I, IdleTimes)> {
        let parked = self.parked.pop_back()?;
        self.counted.reuses += 1;
        self.lends += 1;
        Some((parked.item, parked.times))
    }

    /// Parks `item`; at `max_idle`, the connection idle longest makes room
    /// and is returned (its unit still counted).
    pub(crate) fn park(&mut self, item: I, times: IdleTimes, max_idle: usize) -> Option<I> {
        let displaced = if self.parked.len() >= max_idle {
            self.parked.pop_front().map(|parked| parked.item)
        } else {
            None
        };
        self.parked.push_back(Parked { item, times });
        displaced
    }
}
