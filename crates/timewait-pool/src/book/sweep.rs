//! The reaper's round and the shutdown: what leaves the books by time, and
//! what leaves them all at once.

use tokio::time::Instant;

use crate::book::Book;
use crate::book::queue::Waiting;
use crate::key::Key;

/// What a reaper round took out of the books.
#[derive(Debug)]
pub(crate) struct Sweep<I, W> {
    /// Idle connections past their deadline; their units are still counted
    /// (the caller retires them as lent connections).
    pub(crate) expired: Vec<I>,
    /// Waiting checkouts past their deadline, to be dropped once the lock
    /// is released, which ends their waits.
    pub(crate) timed_out: Vec<W>,
    /// When the next deadline comes.
    pub(crate) next: Option<Instant>,
}

impl<K: Key, I, W: Waiting> Book<K, I, W> {
    /// Takes out the idle connections and the waiting checkouts whose
    /// deadline has come by `now`, forgets ledger entries that ended, and
    /// says when to come back.
    pub(crate) fn reap(&mut self, now: Instant) -> Sweep<I, W> {
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        let mut sooner = |deadline: Instant| {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        };
        // Forgotten first, so that a release parking meanwhile either is
        // swept below or asks for a round itself (see the idle sets'
        // concurrency note).
        self.idle.set_next_reap(None);
        self.idle.for_each(|_, set| {
            let mut i = 0;
            while i < set.parked.len() {
                match set.parked.get(i).and_then(|parked| parked.times.deadline) {
                    Some(deadline) if deadline <= now => {
                        if let Some(parked) = set.parked.remove(i) {
                            expired.push(parked.item);
                        }
                    }
                    Some(deadline) => {
                        sooner(deadline);
                        i += 1;
                    }
                    None => i += 1,
                }
            }
        });
        let mut timed_out = Vec::new();
        if let Some(waiting) = self.queue.expire(now, &mut timed_out) {
            sooner(waiting);
        }
        // A park here, after the sweep passed its stripe, found no round
        // due and went to the books.
        self.idle.window();
        self.set_next_reap(next);
        self.publish_queue();
        self.ledger.expire(now.into_std());
        Sweep {
            expired,
            timed_out: timed_out.into_iter().map(|queued| queued.waiter).collect(),
            next,
        }
    }

    /// Stops lending: marks the books closed and takes out every waiting
    /// checkout (dropped by the caller once the lock is released, which
    /// ends their waits) and every idle connection, with its key (their
    /// units stay counted until the caller retires them).
    pub(crate) fn close(&mut self) -> (Vec<W>, Vec<(K, I)>) {
        self.closed = true;
        // Closed first: no release parks without the books from here on,
        // and no checkout takes an idle connection.
        self.idle.close();
        // A fast step here, before the drain, finds the gate closed.
        self.idle.window();
        let waiting = self.queue.drain().into_iter().map(|q| q.waiter).collect();
        self.publish_queue();
        let mut idle = Vec::new();
        self.idle.for_each(|key, set| {
            idle.extend(set.parked.drain(..).map(|p| (key.clone(), p.item)));
        });
        (waiting, idle)
    }
}
