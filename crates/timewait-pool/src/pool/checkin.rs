//! Check-in: a connection comes back from a guard, to a waiter, to the idle
//! set, or to retirement; and the deadlines that decide which. The books
//! decide where it goes ([`Book::checkin`](crate::book::Book::checkin));
//! this carries it out.
//!
//! # Concurrency note
//!
//! A release parks in its key's stripe of idle connections alone when the
//! stripe allows it (nothing waits, the pool is open, the reaper is due);
//! otherwise the books' lock is taken for the books' step alone.
//! Retirements (which may look at the socket once) run outside it, and so
//! does the send that hands a connection to a waiter (which wakes the
//! waiter's task).
//!
//! Only a released lease reaches the idle set or a waiter: everything else
//! arrives here with a reason to retire.

use std::sync::Arc;

use tokio::time::Instant;

use crate::book::{Checkin, IdleTimes, Refusal};
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::{Handoff, Idle};
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
        // per use, not two. The clock is read only for a lifetime here, and
        // for the idle set's deadline below: a handoff to a waiter needs
        // none.
        let reason = retire
            .or_else(|| self.is_closed().then_some(RetireReason::Shutdown))
            .or_else(|| {
                let too_old =
                    self.config.max_lifetime.is_some() && self.too_old(&conn, Instant::now());
                (too_old || self.used_up(&conn)).then_some(RetireReason::UsedUp)
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
            // Read before any lock: a clock read is a large part of what a
            // check-in would otherwise hold one for.
            let now = Instant::now();
            let times = IdleTimes {
                since: Some(now),
                deadline: self.idle_deadline(&item.conn, now),
            };
            let hash = item.slot.hash();
            let released_now = std::mem::take(&mut released);
            // The common case: parked in its key's stripe alone.
            let parked = if self.idle.is_quiet() {
                self.idle.park(hash, item, released_now, times)
            } else {
                Err(item)
            };
            item = match parked {
                Ok(displaced) => {
                    if let Some(idle) = displaced {
                        let (conn, slot) = idle.into_lent();
                        self.retire(slot, conn, RetireReason::Evicted);
                    }
                    return;
                }
                Err(item) => item,
            };
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

    /// When an idle connection stops being lent: the pool's idle limit, the
    /// one its peer announced, or its end of life, whichever comes first. A
    /// limit too long to add to an instant is no limit.
    pub(crate) fn idle_deadline(&self, conn: &Conn<C>, now: Instant) -> Option<Instant> {
        let limit = match (self.config.idle_limit(), conn.io.peer_idle_limit()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let idle = limit.and_then(|limit| now.checked_add(limit));
        let life = self
            .config
            .max_lifetime
            .and_then(|life| conn.created.checked_add(life));
        match (idle, life) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the connection has reached its maximum lifetime.
    pub(crate) fn too_old(&self, conn: &Conn<C>, now: Instant) -> bool {
        self.config
            .max_lifetime
            .is_some_and(|life| now.saturating_duration_since(conn.created) >= life)
    }

    /// Whether the connection has served its maximum number of checkouts,
    /// or every use its peer allows.
    pub(crate) fn used_up(&self, conn: &Conn<C>) -> bool {
        self.config.max_uses.is_some_and(|max| conn.uses >= max)
            || conn.io.remaining_uses() == Some(0)
    }
}
