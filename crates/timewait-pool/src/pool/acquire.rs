//! Capacity: taking an idle connection or room to connect, and giving a
//! unit of room back, within the key's limit and the pool's total.
//!
//! Room is a value: a [`Slot`] holds one unit of its key's open count (and
//! so of the pool's total). A checkout that finds its key at its limit, or
//! the pool at `max_total` with no idle connection of another key to evict,
//! waits in its key's queue; a key whose waiters wait for the total (not its
//! own limit) is also queued in the pool's `blocked` order. A unit given
//! back goes to the key's first waiter, else to the first blocked key, else
//! to the counts. So a key whose connections never come (a server that never
//! accepts) holds only the units it is allowed, and nothing pool-wide.
//!
//! # Concurrency note
//!
//! Each step takes the lock once for its pops, pushes and counts. Handoffs
//! are sent, and evicted connections retired, after the lock is released:
//! a send wakes a task, a retirement may close a socket, and a slot whose
//! send failed takes the lock again when it is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::oneshot;

use crate::config::Limits;
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::deadline::Deadline;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::{Handoff, Idle, IdleTimes, KeyState, Queued, State};
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

/// A unit of room on its way to a waiting checkout.
type RoomHandoff<K, C> = (oneshot::Sender<Handoff<K, C>>, Slot<K, C>);

impl<K: Key, C: Connection> Shared<K, C> {
    /// Takes an idle connection of `key`, or room to connect, or a place in
    /// the key's queue. `refused`: the connection the caller took or was
    /// handed last was not lent (too old, or unhealthy), so its reuse is
    /// uncounted.
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
    ///
    /// `deadline`: the checkout's, once it has one; a checkout queued for
    /// the first time gets it here.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        key: &K,
        refused: bool,
        deadline: Option<Deadline>,
    ) -> Acquire<K, C> {
        let mut evicted = Vec::new();
        let mut handoffs = Vec::new();
        let mut wake_reaper = false;
        let acquired = self.acquire_locked(
            key,
            refused,
            deadline,
            &mut wake_reaper,
            &mut evicted,
            &mut handoffs,
        );
        if wake_reaper {
            // The reaper sleeps past this waiter's deadline.
            self.reaper_wake.notify_one();
        }
        // The lock is released: the evicted connections can go (their
        // counts already left), and room freed by forgotten keys can reach
        // the checkouts blocked on the total.
        for idle in evicted {
            self.retire(idle.slot, idle.conn, RetireReason::Evicted);
        }
        send_room(handoffs);
        acquired
    }

    fn acquire_locked(
        self: &Arc<Self>,
        key: &K,
        refused: bool,
        deadline: Option<Deadline>,
        wake_reaper: &mut bool,
        evicted: &mut Vec<Idle<K, C>>,
        handoffs: &mut Vec<RoomHandoff<K, C>>,
    ) -> Acquire<K, C> {
        let limits = self.config.limits;
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if refused {
            state.uncount_reuse(key);
        }
        if state.closed {
            return Acquire::Closed;
        }
        let tick = state.tick();
        let known = state.keys.contains_key(key);
        if !known {
            state.add_key(key, tick, limits.max_keys, evicted);
            if !evicted.is_empty() {
                // Forgetting keys freed room that blocked checkouts may use.
                state.hand_out_room(limits, &self.weak(), handoffs);
            }
        }
        let Some(entry) = state.keys.get_mut(key) else {
            return Acquire::Closed;
        };
        entry.last_used = tick;
        if let Some(idle) = entry.idle.pop_back() {
            entry.activity.reuses += 1;
            state.activity.reuses += 1;
            let times = idle.times();
            let (conn, slot) = idle.into_lent();
            return Acquire::Idle(conn, slot, times);
        }
        let under_key_limit = entry.open < limits.max_open_per_key;
        if under_key_limit {
            if state.total_open < limits.max_total {
                state.count_connecting(key);
                return Acquire::Connect(Slot::connecting(key.clone(), self.weak()));
            }
            // At the total cap: the idle connection of the least recently
            // used other key makes room. Its unit leaves under this lock and
            // its slot stays disarmed, so no snapshot ever counts more than
            // `max_total` connections.
            let victim = state.least_recent_with_idle(key).and_then(|victim_key| {
                let idle = state.keys.get_mut(&victim_key)?.idle.pop_front()?;
                state.unit_closed(&victim_key);
                Some(idle)
            });
            if let Some(idle) = victim {
                state.count_connecting(key);
                drop(guard);
                self.retire(idle.slot, idle.conn, RetireReason::Evicted);
                return Acquire::Connect(Slot::connecting(key.clone(), self.weak()));
            }
        }
        let (tx, rx) = oneshot::channel();
        let deadline = deadline.unwrap_or_else(|| Deadline::from_now(self.config.checkout_timeout));
        state.activity.waits += 1;
        if let Some(at) = deadline.0 {
            if state.next_reap.is_none_or(|next| at < next) {
                state.next_reap = Some(at);
                *wake_reaper = true;
            }
        }
        let Some(entry) = state.keys.get_mut(key) else {
            return Acquire::Closed;
        };
        entry.waiters.push_back(Queued {
            tx,
            deadline: deadline.0,
        });
        entry.activity.waits += 1;
        if under_key_limit && !entry.blocked {
            // Waiting for the total, not for its own limit.
            entry.blocked = true;
            state.blocked.push_back(key.clone());
        }
        Acquire::Wait(Waiter::new(rx), deadline)
    }

    /// Gives a slot's unit back: to the key's first live waiter, as room to
    /// connect; else to the first key blocked on the total; else to the
    /// counts. Called by [`Slot`]'s `Drop`.
    pub(crate) fn release(self: &Arc<Self>, key: &K, was_connecting: bool) {
        let limits = self.config.limits;
        let mut handoffs = Vec::new();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(entry) = state.keys.get_mut(key) {
            if was_connecting {
                entry.connecting = entry.connecting.saturating_sub(1);
            }
            match first_live_waiter(entry) {
                Some(waiter) => {
                    // The unit stays with the key.
                    entry.connecting += 1;
                    handoffs.push((waiter, Slot::connecting(key.clone(), self.weak())));
                }
                None => {
                    state.unit_closed(key);
                    state.hand_out_room(limits, &self.weak(), &mut handoffs);
                }
            }
        }
        // A forgotten key's counts left with it.
        let closed = state.closed;
        drop(guard);
        send_room(handoffs);
        if closed {
            self.drained.notify_waiters();
        }
    }
}

/// Sends each unit of room to its waiter. A waiter gone since it was chosen
/// gives the slot back, and dropping the slot passes its unit on.
fn send_room<K: Key, C: Connection>(handoffs: Vec<RoomHandoff<K, C>>) {
    for (waiter, slot) in handoffs {
        if let Err(handoff) = waiter.send(Handoff::Slot(slot)) {
            drop(handoff);
        }
    }
}

/// The key's first waiter still waiting; the ones gone are dropped.
pub(super) fn first_live_waiter<K: Key, C: Connection>(
    entry: &mut KeyState<K, C>,
) -> Option<oneshot::Sender<Handoff<K, C>>> {
    std::iter::from_fn(|| entry.waiters.pop_front())
        .find(|w| !w.is_gone())
        .map(|w| w.tx)
}

impl<K: Key, C: Connection> State<K, C> {
    /// Counts a new connection of `key` as being made.
    fn count_connecting(&mut self, key: &K) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.open += 1;
            entry.connecting += 1;
        }
        self.total_open += 1;
    }

    /// Whether a checkout of some key waits for room under the total cap.
    /// Keys that no longer wait leave the order as they are met.
    pub(crate) fn room_wanted(&mut self, limits: Limits) -> bool {
        while let Some(key) = self.blocked.front() {
            if let Some(entry) = self.keys.get_mut(key) {
                if still_blocked(entry, limits) {
                    return true;
                }
                entry.blocked = false;
            }
            self.blocked.pop_front();
        }
        false
    }

    /// Gives the room under the total cap to the keys blocked on it, first
    /// come first served, one waiter at a time per key (a key with more
    /// waiters goes back to the end of the order).
    fn hand_out_room(
        &mut self,
        limits: Limits,
        shared: &Weak<Shared<K, C>>,
        handoffs: &mut Vec<RoomHandoff<K, C>>,
    ) {
        while self.total_open < limits.max_total {
            let Some(key) = self.blocked.pop_front() else {
                return;
            };
            let Some(entry) = self.keys.get_mut(&key) else {
                continue;
            };
            entry.blocked = false;
            if entry.open >= limits.max_open_per_key {
                // Its waiters wait for its own limit now.
                continue;
            }
            let Some(waiter) = first_live_waiter(entry) else {
                continue;
            };
            if still_blocked(entry, limits) {
                entry.blocked = true;
                self.blocked.push_back(key.clone());
            }
            self.count_connecting(&key);
            handoffs.push((waiter, Slot::connecting(key, shared.clone())));
        }
    }
}

/// Whether the key has a live waiter that waits for the total, not for its
/// own limit.
fn still_blocked<K: Key, C: Connection>(entry: &mut KeyState<K, C>, limits: Limits) -> bool {
    trim_gone(&mut entry.waiters);
    !entry.waiters.is_empty() && entry.open < limits.max_open_per_key
}

/// Drops the waiters at the front of the queue that are gone.
fn trim_gone<K: Key, C: Connection>(waiters: &mut VecDeque<Queued<K, C>>) {
    while waiters.front().is_some_and(Queued::is_gone) {
        waiters.pop_front();
    }
}
