//! Check-in: a released connection goes to a waiting checkout of its key,
//! to the idle set, or is refused.

use crate::book::idle::{IdleTimes, Keyed};
use crate::book::keymap::KeyHash;
use crate::book::queue::Waiting;
use crate::book::{Book, place_idle};
use crate::key::Key;

/// Where a checked-in connection goes.
#[derive(Debug)]
pub(crate) enum Checkin<I, W> {
    /// Into the idle set. `displaced`: the key's idle set was full, and its
    /// connection idle longest makes room (its unit is still counted: the
    /// caller retires it as a lent connection). `wake_reaper`: its deadline
    /// comes before the reaper's next round.
    Parked {
        displaced: Option<I>,
        wake_reaper: bool,
    },
    /// To the oldest waiting checkout of its key, counted as a reuse. If
    /// the waiter is gone, the caller says so ([`Book::handoff_failed`])
    /// and checks the connection in again.
    Handoff(W, I),
    /// Not taken: the caller retires it (its unit is still counted).
    Refused(Refusal, I),
}

/// Why a released connection was not taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The pool is shut down.
    Closed,
    /// An older checkout of another key waits for room under the total:
    /// closing this connection makes it.
    RoomWanted,
    /// Its key was forgotten while it was lent.
    KeyForgotten,
}

impl<K: Key, I: Keyed<K>, W: Waiting> Book<K, I, W> {
    /// Takes back a connection (whose key's hash is `hash`, taken before
    /// the lock) whose lease ended with a release
    /// (`released`: counted as one; a connection a gone waiter gives back is
    /// not). `times`: when it came back and its deadline, kept if it goes to
    /// the idle set.
    pub(crate) fn checkin(
        &mut self,
        item: I,
        hash: KeyHash,
        released: bool,
        times: IdleTimes,
    ) -> Checkin<I, W> {
        let checked_in = self.take_back(item, hash, released, times);
        self.publish_queue();
        checked_in
    }

    fn take_back(
        &mut self,
        item: I,
        hash: KeyHash,
        released: bool,
        times: IdleTimes,
    ) -> Checkin<I, W> {
        let key = item.key();
        // Counted in the books' share: a check-in through the books looks
        // into its key's idle set only to park there.
        let released = i64::from(released);
        let refusal = if self.closed {
            Some(Refusal::Closed)
        } else if self.room_wanted_before(key) {
            Some(Refusal::RoomWanted)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.count_in_books(key, hash, 0, released);
            return Checkin::Refused(refusal, item);
        }
        if let Some(waiter) = self.take_waiter_of(key) {
            // Counted as handed over, like a reuse taken by `lend`;
            // uncounted if it is not lent after all.
            self.count_in_books(key, hash, 1, released);
            return Checkin::Handoff(waiter, item);
        }
        self.count_in_books(key, hash, 0, released);
        let Some(entry) = self.keys.get_mut_hashed(hash, key) else {
            return Checkin::Refused(Refusal::KeyForgotten, item);
        };
        // The key can give up a connection to the total cap. A key already
        // in that order is left as it is: no clone, no heap work.
        let tick = entry.last_used;
        entry.seen_empty = None;
        self.idle_keys.insert(key, place_idle(entry), tick);
        let displaced = match self.idle.park_listed(hash, item, times) {
            Ok(displaced) => displaced,
            // A remembered key always has its idle set.
            Err(item) => return Checkin::Refused(Refusal::KeyForgotten, item),
        };
        let wake_reaper = self.reap_by(times.deadline);
        Checkin::Parked {
            displaced,
            wake_reaper,
        }
    }
}

impl<K: Key, I, W: Waiting> Book<K, I, W> {
    /// A connection of `key` handed to a waiting checkout did not reach it
    /// (the checkout went away): its reuse is uncounted, and the caller
    /// checks it in again.
    pub(crate) fn handoff_failed(&mut self, key: &K) {
        self.uncount_reuse(key);
    }
}
