//! Taking an idle connection or room to connect, and giving a unit of room
//! back: the books decide ([`Book::lend`](crate::book::Book::lend),
//! [`Book::give_back`](crate::book::Book::give_back)); this carries out
//! what they decided.
//!
//! Room is a value: a [`Slot`] holds one unit of its key's open count (and
//! so of the pool's total); dropping it gives the unit back.
//!
//! # Concurrency note
//!
//! A checkout first asks its key's stripe of idle connections alone (no
//! pool-wide lock); failing that, each step takes the books' lock once, for
//! the books' step alone. Handoffs are sent, and evicted connections
//! retired, after the lock is released: a send wakes a task, a retirement
//! may close a socket, and a slot whose send failed takes the lock again
//! when it is dropped.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::book::{Effects, IdleTimes, Lend};
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::deadline::Deadline;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::{Handoff, Idle, Sender};
use crate::pool::waiter::Waiter;
use crate::retire::RetireReason;

/// What [`Shared::acquire`] found for a checkout.
pub(crate) enum Acquire<K: Key, C: Connection> {
    /// An idle connection (not yet checked for health or age), with when it
    /// came back and the idle deadline it was given.
    Idle(Conn<C>, Slot<K, C>, IdleTimes),
    /// Room for a new connection.
    Connect(Slot<K, C>),
    /// The key is at its limit, or the pool at its total: wait for a
    /// handoff, until the deadline (when the reaper ends the wait).
    Wait(Waiter<K, C>, Deadline),
    /// The pool is shut down.
    Closed,
}

/// What the books left to do once the lock is released.
pub(crate) type Aftermath<K, C> = Effects<K, Idle<K, C>, Sender<K, C>>;

/// Retires the evicted connections (their units already left the books),
/// sends the room handed out, and wakes the reaper if asked.
pub(crate) fn carry_out<K: Key, C: Connection>(
    effects: Aftermath<K, C>,
    shared: &Arc<Shared<K, C>>,
) {
    if effects.is_empty() {
        // The common case.
        return;
    }
    for idle in effects.evicted {
        shared.retire(idle.slot, idle.conn, RetireReason::Evicted);
    }
    for (waiter, key) in effects.room {
        // A waiter gone since it was chosen gives the slot back, and
        // dropping the slot passes its unit on.
        let hash = shared.key_hasher.hash(&key);
        let slot = Slot::connecting(key, hash, shared.weak());
        if let Err(handoff) = waiter.send(Handoff::Slot(slot)) {
            drop(handoff);
        }
    }
    if effects.wake_reaper {
        // The reaper sleeps past a new waiter's deadline.
        shared.reaper_wake.notify_one();
    }
}

impl<K: Key, C: Connection> Shared<K, C> {
    /// Takes an idle connection of `key`, or room to connect, or a place in
    /// the queue. `refused`: the connection the caller took or was handed
    /// last was not lent (too old, or unhealthy), so its reuse is uncounted.
    /// `deadline`: the checkout's, once it has one; a checkout queued for
    /// the first time gets it here.
    ///
    /// # Concurrency note
    ///
    /// A connection is counted as reused as it is taken here, or handed to a
    /// waiter by [`checkin`](Shared::checkin), in the same locked step, not
    /// once it passes its checks: a checkout and a check-in then take the
    /// lock once each. One that fails them is uncounted by the caller's next
    /// `acquire`, and one handed to a waiter that is gone by the waiter's
    /// drop, before the checkout returns or ends; so a snapshot taken while
    /// a checkout runs may count one reuse too many, and one taken between
    /// checkouts is exact.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        key: &K,
        refused: bool,
        deadline: Option<Deadline>,
    ) -> Acquire<K, C> {
        let hash = self.key_hasher.hash(key);
        if !refused && self.idle.is_quiet() {
            // The common case: an idle connection of the key, from its
            // stripe alone.
            if let Some((idle, times)) = self.idle.lend(hash, key) {
                let (conn, slot) = idle.into_lent();
                return Acquire::Idle(conn, slot, times);
            }
        }
        let mut effects = Effects::new();
        let mut receiver = None;
        let wait = || {
            let (tx, rx) = oneshot::channel();
            let deadline =
                deadline.unwrap_or_else(|| Deadline::from_now(self.config.checkout_timeout));
            receiver = Some((rx, deadline));
            (tx, deadline.0)
        };
        let lent = self
            .state
            .lock()
            .lend(key, hash, refused, wait, &mut effects);
        carry_out(effects, self);
        match lent {
            Lend::Idle(idle, times) => {
                let (conn, slot) = idle.into_lent();
                Acquire::Idle(conn, slot, times)
            }
            Lend::Connect => Acquire::Connect(Slot::connecting(key.clone(), hash, self.weak())),
            Lend::Wait => match receiver {
                Some((rx, deadline)) => Acquire::Wait(Waiter::new(rx), deadline),
                // The books queue a checkout only with the waiter it made.
                None => Acquire::Closed,
            },
            Lend::Closed => Acquire::Closed,
        }
    }

    /// Gives a slot's unit of `key` back: to the oldest waiting checkout it
    /// can serve (of `key`, or of a key under its limit), else to the counts.
    /// Called by [`Slot`]'s `Drop`.
    pub(crate) fn release(self: &Arc<Self>, key: &K, was_connecting: bool) {
        let mut effects = Effects::new();
        let closed = {
            let mut books = self.state.lock();
            books.give_back(key, was_connecting, &mut effects);
            books.closed
        };
        carry_out(effects, self);
        if closed {
            self.drained.notify_waiters();
        }
    }
}
