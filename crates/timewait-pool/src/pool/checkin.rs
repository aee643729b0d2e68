//! Check-in: a connection comes back from a guard, to a waiter, to the idle
//! set, or to retirement; and the deadlines that decide which.
//!
//! # Concurrency note
//!
//! As in [`shared`](super::shared): the lock is taken for pops, pushes and
//! counts only. Retirements (which may look at the socket once) run outside
//! it, and so does the send that hands a connection to a waiter (which wakes
//! the waiter's task).
//!
//! Only a released lease reaches the idle set or a waiter: everything else
//! arrives here with a reason to retire.

use std::sync::Arc;

use tokio::time::Instant;

use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::{Handoff, Idle, State};
use crate::retire::RetireReason;

impl<K: Key, C: Connection> Shared<K, C> {
    /// Takes back a connection whose lease ended: to a waiter, to the idle
    /// set, or to retirement. `released`: the lease ended with a release
    /// (counted); a connection a gone waiter gives back is not one.
    pub(crate) fn checkin(
        self: &Arc<Self>,
        mut conn: Conn<C>,
        mut slot: Slot<K, C>,
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
        let limits = self.config.limits;
        let mut guard = self.state.lock();
        if released {
            guard.activity.released += 1;
        }
        // Runs again only when the waiter it chose went away before the
        // connection reached it. The key's entry is looked up once a round.
        loop {
            let state = &mut *guard;
            // Checked again under the lock: a shutdown that began since the
            // look above, or while a handoff was failing, must not find this
            // connection idle in a closed pool.
            if state.closed {
                count_released(state, slot.key(), &mut released);
                drop(guard);
                self.retire(slot, conn, RetireReason::Shutdown);
                return;
            }
            if !state.queue.is_empty() {
                // An older checkout of another key waits for room under the
                // total: this connection is retired to make it.
                if state.room_wanted_before(slot.key(), limits) {
                    count_released(state, slot.key(), &mut released);
                    drop(guard);
                    self.retire(slot, conn, RetireReason::Evicted);
                    return;
                }
                if let Some(waiter) = state.take_waiter_of(slot.key()) {
                    count_released(state, slot.key(), &mut released);
                    // Counted as handed over, like a reuse taken by
                    // `acquire`; uncounted if it is not lent after all.
                    state.activity.reuses += 1;
                    if let Some(entry) = state.keys.get_mut(slot.key()) {
                        entry.activity.reuses += 1;
                    }
                    // Sending wakes the waiter's task: done after the lock
                    // is released, so that it is held for pops and pushes
                    // only.
                    drop(guard);
                    match waiter.send(Handoff::Conn(conn, slot)) {
                        Ok(()) => return,
                        Err(Handoff::Conn(c, s)) => (conn, slot) = (c, s),
                        // Only connections are offered here; this arm cannot
                        // run, and if it did, the counts stay as they are.
                        Err(other @ Handoff::Slot(_)) => {
                            other.disarm();
                            return;
                        }
                    }
                    guard = self.state.lock();
                    guard.uncount_reuse(slot.key());
                    continue;
                }
            }
            let Some(entry) = state.keys.get_mut(slot.key()) else {
                drop(guard);
                self.retire(slot, conn, RetireReason::Evicted);
                return;
            };
            if std::mem::take(&mut released) {
                entry.activity.released += 1;
            }
            let now = Instant::now();
            let deadline = self.idle_deadline(&conn, now);
            let evicted = if entry.idle.len() >= limits.max_idle_per_key {
                entry.idle.pop_front()
            } else {
                None
            };
            // The key can give up a connection to the total cap. A key
            // already in that order is left as it is: no clone, no heap work.
            state
                .idle_keys
                .insert(slot.key(), &mut entry.places.idle, entry.last_used);
            slot.disarm();
            entry.idle.push_back(Idle {
                conn,
                deadline,
                since: now,
                slot,
            });
            let wake_reaper = deadline.is_some_and(|d| state.next_reap.is_none_or(|t| d < t));
            if wake_reaper {
                state.next_reap = deadline;
            }
            drop(guard);
            if wake_reaper {
                self.reaper_wake.notify_one();
            }
            if let Some(idle) = evicted {
                let (conn, slot) = idle.into_lent();
                self.retire(slot, conn, RetireReason::Evicted);
            }
            return;
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

/// Counts a release in its key's activity, once (`released` is cleared).
fn count_released<K: Key, C: Connection>(state: &mut State<K, C>, key: &K, released: &mut bool) {
    if std::mem::take(released) {
        if let Some(entry) = state.keys.get_mut(key) {
            entry.activity.released += 1;
        }
    }
}
