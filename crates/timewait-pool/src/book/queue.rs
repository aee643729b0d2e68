//! The pool's one queue of waiting checkouts, first come first served
//! across keys.
//!
//! A checkout waits when its key is at its limit, or when the pool is at
//! `max_total` with nothing idle to evict. Room that frees (a connection
//! retired, a connect given up) goes to the oldest waiting checkout it can
//! serve: one of the same key, or one of a key under its limit; a connection
//! checked in goes to the oldest of its own key, unless an older checkout of
//! another key waits for room, which the connection is then retired to make.
//! A waiting checkout holds no key state, so checkouts for new keys cannot
//! grow the pool's map of keys while they wait.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Where a waiting checkout is told what it waited for: the books only ask
/// whether anyone still listens there.
pub(crate) trait Waiting {
    /// Whether the checkout stopped waiting (dropped, or answered).
    fn is_gone(&self) -> bool;
}

/// A waiting checkout: its key, where to tell it what it waits for, and
/// when it gives up (the reaper drops its `waiter` then).
#[derive(Debug)]
pub(crate) struct Queued<K, W> {
    pub(crate) key: K,
    pub(crate) waiter: W,
    pub(crate) deadline: Option<Instant>,
}

impl<K, W: Waiting> Queued<K, W> {
    fn is_gone(&self) -> bool {
        self.waiter.is_gone()
    }
}

/// Waiting checkouts, oldest first.
#[derive(Debug)]
pub(crate) struct Queue<K, W> {
    waiting: VecDeque<Queued<K, W>>,
}

impl<K, W: Waiting> Queue<K, W> {
    pub(crate) fn new() -> Self {
        Queue {
            waiting: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, queued: Queued<K, W>) {
        self.waiting.push_back(queued);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The oldest live checkout whose key `usable` accepts: its place and
    /// its key. Checkouts gone from the front are dropped on the way (nobody
    /// listens there).
    pub(crate) fn first(&mut self, mut usable: impl FnMut(&K) -> bool) -> Option<(usize, &K)> {
        while self.waiting.front().is_some_and(Queued::is_gone) {
            self.waiting.pop_front();
        }
        self.waiting
            .iter()
            .enumerate()
            .find(|(_, queued)| !queued.is_gone() && usable(&queued.key))
            .map(|(place, queued)| (place, &queued.key))
    }

    /// Takes the checkout at `place` out of the queue.
    pub(crate) fn take(&mut self, place: usize) -> Option<Queued<K, W>> {
        self.waiting.remove(place)
    }

    /// Moves the checkouts past their deadline to `expired` (to be dropped
    /// once the lock is released, which wakes them), drops the ones gone, and
    /// says when the next deadline comes.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        expired: &mut Vec<Queued<K, W>>,
    ) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let waiting = std::mem::take(&mut self.waiting);
        for queued in waiting {
            match queued.deadline {
                Some(deadline) if deadline <= now => expired.push(queued),
                _ if queued.is_gone() => {}
                deadline => {
                    if let Some(deadline) = deadline {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    }
                    self.waiting.push_back(queued);
                }
            }
        }
        next
    }

    /// Empties the queue (the pool closes): the caller drops them once the
    /// lock is released.
    pub(crate) fn drain(&mut self) -> VecDeque<Queued<K, W>> {
        std::mem::take(&mut self.waiting)
    }

    /// The live waiting checkouts, each with its key.
    pub(crate) fn live(&self) -> impl Iterator<Item = &K> {
        self.waiting
            .iter()
            .filter(|queued| !queued.is_gone())
            .map(|queued| &queued.key)
    }
}
