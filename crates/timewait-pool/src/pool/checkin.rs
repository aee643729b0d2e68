//! Check-in: a connection comes back from a guard, to a waiter, to the idle
//! set, or to retirement. The books decide where it goes
//! ([`Book::checkin`](crate::book::Book::checkin)); this carries it out.
//!
//! # Concurrency note
//!
//! A release parks in its key's stripe of idle connections alone when the
//! stripe allows it (nothing waits, the pool is open, the reaper is due):
//! the lease does that itself, through its way back to the stripe
//! ([`park_released`]), without taking a reference to the pool. Otherwise
//! the books' lock is taken for the books' step alone. Retirements (which
//! may look at the socket once) run outside it, and so does the send that
//! hands a connection to a waiter (which wakes the waiter's task).
//!
//! Only a released lease reaches the idle set or a waiter: everything else
//! arrives here with a reason to retire.

use std::sync::Arc;

use tokio::time::Instant;

use crate::book::{Checkin, IdleTimes, Refusal};
use crate::config::Ends;
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::{Handoff, Idle, IdleStripe};
use crate::retire::RetireReason;

impl<K: Key, C: Connection> Shared<K, C> {
    /// Takes back a connection whose lease ended: to a waiter, to the idle
    /// set, or to retirement. `released`: the lease ended with a release
    /// (counted); a connection a gone waiter gives back is not one.
    pub(crate) fn checkin(
        self: &Arc<Self>,
        conn: Conn<C>,
        slot: Slot<K, C>,
        retire: Option<RetireReason>,
        mut released: bool,
    ) {
        // No health check here: the next checkout makes it (a handoff to a
        // waiter goes through the same check), and a retirement looks once
        // at the socket itself, so a connection at rest pays for one look
        // per use, not two. The clock is read once, and only when a
        // lifetime, an idle limit or the health check needs the time of the
        // rest.
        let mut now = None;
        let reason = retire
            .or_else(|| self.is_closed().then_some(RetireReason::Shutdown))
            .or_else(|| {
                now = self.ends.rest_clock(&conn);
                self.ends
                    .spent_at(&conn, now)
                    .then_some(RetireReason::UsedUp)
            });
        if let Some(reason) = reason {
            if released {
                self.count(slot.key(), |a| a.released += 1);
            }
            self.retire(slot, conn, reason);
            return;
        }
        let mut item = Idle::new(conn, slot);
        loop {
            // Read before any lock (again only for a connection a gone
            // waiter gave back): a clock read is a large part of what a
            // check-in would otherwise hold one for.
            let now = now.take().or_else(|| self.ends.rest_clock(&item.conn));
            let times = rest_times(&self.ends, &item.conn, now);
            let hash = item.slot.hash();
            let released_now = std::mem::take(&mut released);
            let checked_in = self.state.lock().checkin(item, hash, released_now, times);
            match checked_in {
                Checkin::Parked {
                    displaced,
                    wake_reaper,
                } => {
                    if wake_reaper {
                        self.reaper_wake.notify_one();
                    }
                    if let Some(idle) = displaced {
                        let (conn, slot) = idle.into_lent();
                        self.retire(slot, conn, RetireReason::Evicted);
                    }
                    return;
                }
                Checkin::Refused(refusal, idle) => {
                    let reason = match refusal {
                        Refusal::Closed => RetireReason::Shutdown,
                        Refusal::RoomWanted | Refusal::KeyForgotten => RetireReason::Evicted,
                    };
                    let (conn, slot) = idle.into_lent();
                    self.retire(slot, conn, reason);
                    return;
                }
                // Sending wakes the waiter's task: done after the lock is
                // released.
                Checkin::Handoff(waiter, idle) => {
                    let (conn, slot) = idle.into_lent();
                    match waiter.send(Handoff::Conn(conn, slot)) {
                        Ok(()) => return,
                        Err(Handoff::Conn(conn, slot)) => {
                            // The waiter went away: the connection is
                            // checked in again, its reuse uncounted.
                            self.state.lock().handoff_failed(slot.key());
                            item = Idle::new(conn, slot);
                        }
                        // Only connections are offered here; this arm cannot
                        // run, and if it did, the counts stay as they are.
                        Err(other @ Handoff::Slot(_)) => {
                            other.disarm();
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The fast check-in of a released lease with nothing against its
/// connection's rest: parks it in its key's stripe through the lease's way
/// back, with no lock or reference count of the pool's. Gives the
/// connection back when the pool must take it: its use or life is spent,
/// checkouts wait, the pool is closed or gone, the reaper is not due by
/// its deadline, or its key's set is not in the books' order yet.
pub(crate) fn park_released<K: Key, C: Connection>(
    conn: Conn<C>,
    slot: Slot<K, C>,
    stripe: &IdleStripe<K, C>,
) -> Result<(), (Conn<C>, Slot<K, C>)> {
    // A hint first: while checkouts wait, releases go to them through the
    // books, and reading the clock or taking the stripe's lock only to learn
    // that would be wasted (the park reads the gate again under the lock).
    if !stripe.is_quiet() {
        return Err((conn, slot));
    }
    let ends = stripe.ends();
    let now = ends.rest_clock(&conn);
    if ends.spent_at(&conn, now) {
        return Err((conn, slot));
    }
    let times = rest_times(ends, &conn, now);
    let hash = slot.hash();
    match stripe.park(hash, Idle::new(conn, slot), true, times) {
        Ok(None) => Ok(()),
        // At the key's idle bound, the connection idle longest made room:
        // retired as the pool retires any. The pool is there, or the gate
        // would have refused the park, unless its last handle went just
        // now: then it is closed here, without the policy the pool's own
        // end gives its idle connections (a farewell needs the pool's
        // worker).
        Ok(Some(displaced)) => {
            let (conn, slot) = displaced.into_lent();
            match slot.shared().upgrade() {
                Some(shared) => shared.retire(slot, conn, RetireReason::Evicted),
                None => conn.io.close(),
            }
            Ok(())
        }
        Err(idle) => Err(idle.into_lent()),
    }
}

/// When a connection coming back at `now` (if the clock was read) stops
/// being lent.
fn rest_times<C: Connection>(ends: &Ends, conn: &Conn<C>, now: Option<Instant>) -> IdleTimes {
    IdleTimes {
        since: now,
        deadline: now.and_then(|now| ends.idle_deadline(conn, now)),
    }
}
