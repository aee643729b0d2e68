//! Capacity: taking an idle connection or room to connect, and giving a
//! unit of room back, within the key's limit and the pool's total.
//!
//! Room is a value: a [`Slot`] holds one unit of its key's open count (and
//! so of the pool's total). A checkout that finds its key at its limit, or
//! the pool at `max_total` with no idle connection of another key to evict,
//! waits in the pool's queue (`queue`), first come first served across keys.
//! A unit given back goes to the oldest waiting checkout it can serve: of
//! the same key (the unit stays), or of a key under its limit (the unit
//! moves). So a key whose connections never come (a server that never
//! accepts) holds only the units it is allowed, and nothing that another
//! key's checkout needs.
//!
//! # Concurrency note
//!
//! Each step takes the lock once for its pops, pushes and counts. Handoffs
//! are sent, and evicted connections retired, after the lock is released:
//! a send wakes a task, a retirement may close a socket, and a slot whose
//! send failed takes the lock again when it is dropped.

use std::sync::{Arc, Weak};

use tokio::sync::oneshot;

use crate::config::Limits;
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::deadline::Deadline;
use crate::pool::queue::Queued;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::{Handoff, Idle, IdleTimes, State};
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

/// What a locked step leaves to do once the lock is released.
struct Aftermath<K: Key, C: Connection> {
    evicted: Vec<Idle<K, C>>,
    handoffs: Vec<RoomHandoff<K, C>>,
    wake_reaper: bool,
}

impl<K: Key, C: Connection> Aftermath<K, C> {
    fn new() -> Self {
        Aftermath {
            evicted: Vec::new(),
            handoffs: Vec::new(),
            wake_reaper: false,
        }
    }

    /// Retires the evicted connections (their counts already left), sends
    /// the room handed out, and wakes the reaper if asked.
    fn carry_out(self, shared: &Arc<Shared<K, C>>) {
        for idle in self.evicted {
            shared.retire(idle.slot, idle.conn, RetireReason::Evicted);
        }
        for (waiter, slot) in self.handoffs {
            // A waiter gone since it was chosen gives the slot back, and
            // dropping the slot passes its unit on.
            if let Err(handoff) = waiter.send(Handoff::Slot(slot)) {
                drop(handoff);
            }
        }
        if self.wake_reaper {
            // The reaper sleeps past a new waiter's deadline.
            shared.reaper_wake.notify_one();
        }
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
        let mut after = Aftermath::new();
        let acquired = self.acquire_locked(key, refused, deadline, &mut after);
        after.carry_out(self);
        acquired
    }

    fn acquire_locked(
        self: &Arc<Self>,
        key: &K,
        refused: bool,
        deadline: Option<Deadline>,
        after: &mut Aftermath<K, C>,
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
        if let Some(entry) = state.keys.get_mut(key) {
            entry.last_used = tick;
            if let Some(idle) = entry.idle.pop_back() {
                entry.activity.reuses += 1;
                state.activity.reuses += 1;
                let times = idle.times();
                let (conn, slot) = idle.into_lent();
                return Acquire::Idle(conn, slot, times);
            }
        }
        if under_limit(state, key, limits) {
            if state.total_open < limits.max_total {
                state.count_connecting(key, tick, limits, &mut after.evicted);
                // Forgetting keys to make room for this one may free more.
                state.hand_out_room(limits, &self.weak(), after);
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
                after.evicted.push(idle);
                state.count_connecting(key, tick, limits, &mut after.evicted);
                return Acquire::Connect(Slot::connecting(key.clone(), self.weak()));
            }
        }
        let (tx, rx) = oneshot::channel();
        let deadline = deadline.unwrap_or_else(|| Deadline::from_now(self.config.checkout_timeout));
        if let Some(at) = deadline.0 {
            if state.next_reap.is_none_or(|next| at < next) {
                state.next_reap = Some(at);
                after.wake_reaper = true;
            }
        }
        state.activity.waits += 1;
        if let Some(entry) = state.keys.get_mut(key) {
            entry.activity.waits += 1;
        }
        state.queue.push(Queued {
            key: key.clone(),
            tx,
            deadline: deadline.0,
        });
        Acquire::Wait(Waiter::new(rx), deadline)
    }

    /// Gives a slot's unit of `key` back: to the oldest waiting checkout it
    /// can serve (of `key`, or of a key under its limit), else to the counts.
    /// Called by [`Slot`]'s `Drop`.
    pub(crate) fn release(self: &Arc<Self>, key: &K, was_connecting: bool) {
        let limits = self.config.limits;
        let mut after = Aftermath::new();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        // A forgotten key's counts left with it: only room is left to give.
        if let Some(entry) = state.keys.get_mut(key) {
            if was_connecting {
                entry.connecting = entry.connecting.saturating_sub(1);
            }
            let own = |k: &K| k == key;
            let keys = &state.keys;
            let served = state
                .queue
                .first(|k| own(k) || keys.get(k).is_none_or(|e| e.open < limits.max_open_per_key))
                .map(|(place, k)| (place, own(k)));
            match served.and_then(|(place, own)| Some((state.queue.take(place)?, own))) {
                Some((queued, true)) => {
                    // The unit stays with the key.
                    if let Some(entry) = state.keys.get_mut(key) {
                        entry.connecting += 1;
                    }
                    after
                        .handoffs
                        .push((queued.tx, Slot::connecting(key.clone(), self.weak())));
                }
                Some((queued, false)) => {
                    state.unit_closed(key);
                    let tick = state.tick();
                    state.count_connecting(&queued.key, tick, limits, &mut after.evicted);
                    after
                        .handoffs
                        .push((queued.tx, Slot::connecting(queued.key, self.weak())));
                }
                None => state.unit_closed(key),
            }
        }
        state.hand_out_room(limits, &self.weak(), &mut after);
        let closed = state.closed;
        drop(guard);
        after.carry_out(self);
        if closed {
            self.drained.notify_waiters();
        }
    }
}

/// Whether `key` may open another connection: it is unknown, or under its
/// limit.
fn under_limit<K: Key, C: Connection>(state: &State<K, C>, key: &K, limits: Limits) -> bool {
    state
        .keys
        .get(key)
        .is_none_or(|entry| entry.open < limits.max_open_per_key)
}

impl<K: Key, C: Connection> State<K, C> {
    /// Counts a new connection of `key` as being made, remembering the key
    /// (and forgetting others, past `max_keys`, into `evicted`) if needed.
    fn count_connecting(
        &mut self,
        key: &K,
        tick: u64,
        limits: Limits,
        evicted: &mut Vec<Idle<K, C>>,
    ) {
        let entry = match self.keys.get_mut(key) {
            Some(entry) => entry,
            None => self.add_key(key, tick, limits.max_keys, evicted),
        };
        entry.open += 1;
        entry.connecting += 1;
        self.total_open += 1;
    }

    /// Gives the room under the total cap to the oldest waiting checkouts of
    /// keys under their limit.
    fn hand_out_room(
        &mut self,
        limits: Limits,
        shared: &Weak<Shared<K, C>>,
        after: &mut Aftermath<K, C>,
    ) {
        while self.total_open < limits.max_total {
            let keys = &self.keys;
            let Some((place, _)) = self
                .queue
                .first(|k| keys.get(k).is_none_or(|e| e.open < limits.max_open_per_key))
            else {
                return;
            };
            let Some(queued) = self.queue.take(place) else {
                return;
            };
            let tick = self.tick();
            self.count_connecting(&queued.key, tick, limits, &mut after.evicted);
            after
                .handoffs
                .push((queued.tx, Slot::connecting(queued.key, shared.clone())));
        }
    }

    /// Whether the oldest waiting checkout that a connection of `key` could
    /// serve is one of another key, which waits for room under the total:
    /// the connection is then better retired to make that room.
    pub(crate) fn room_wanted_before(&mut self, key: &K, limits: Limits) -> bool {
        if self.queue.is_empty() || self.total_open < limits.max_total {
            return false;
        }
        let keys = &self.keys;
        self.queue
            .first(|k| k == key || keys.get(k).is_none_or(|e| e.open < limits.max_open_per_key))
            .is_some_and(|(_, k)| k != key)
    }

    /// The oldest waiting checkout of `key`, taken out of the queue.
    pub(crate) fn take_waiter_of(&mut self, key: &K) -> Option<oneshot::Sender<Handoff<K, C>>> {
        let (place, _) = self.queue.first(|k| k == key)?;
        self.queue.take(place).map(|queued| queued.tx)
    }
}
