//! The state every clone of a pool shares, and the short locked steps on it.
//!
//! # Concurrency note
//!
//! Each method takes the lock for a handful of pushes, pops and counter
//! updates and never across an `.await`. Work that may take the lock again
//! (dropping an armed [`Slot`], retiring a connection) or that calls into the
//! connection (health checks) happens after the guard is dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use timewait_core::budget::Admission;
use timewait_core::ledger::{Destination, TimeWaitLedger};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::connection::Connection;
use crate::key::Key;
use crate::lock::Mutex;
use crate::policy::ClosedBy;
use crate::pool::slot::Slot;
use crate::pool::state::{Conn, Handoff, Idle, State};
use crate::pool::waiter::Waiter;
use crate::retire::{Job, RetireReason};
use crate::stats::{Activity, KeyStats, PoolStats};

/// What [`Shared::acquire`] found for a checkout.
pub(crate) enum Acquire<K: Key, C: Connection> {
    /// An idle connection (not yet checked for health or age), with the
    /// idle deadline it was given at check-in.
    Idle(Conn<C>, Slot<K, C>, Option<Instant>),
    /// Room for a new connection.
    Connect(Slot<K, C>),
    /// The key is at its limit: wait for a handoff.
    Wait(Waiter<K, C>),
    /// The pool is shut down.
    Closed,
}

pub(crate) struct Shared<K: Key, C: Connection> {
    pub(crate) config: PoolConfig<K, C>,
    pub(super) state: Mutex<State<K, C>>,
    /// Set once with the state's `closed`, readable without the lock.
    closed: AtomicBool,
    pub(crate) retiring: AtomicUsize,
    retire_tx: mpsc::UnboundedSender<Job<K, C>>,
    retire_rx: Mutex<Option<mpsc::UnboundedReceiver<Job<K, C>>>>,
    background_started: AtomicBool,
    /// Wakes the reaper when an earlier idle deadline appears or the pool
    /// goes away.
    pub(crate) reaper_wake: Arc<Notify>,
    /// Wakes a shutdown waiting for lent connections and retirements to end.
    pub(crate) drained: Notify,
}

impl<K: Key, C: Connection> Shared<K, C> {
    pub(crate) fn new(config: PoolConfig<K, C>) -> Arc<Self> {
        let ledger = TimeWaitLedger::new(config.budget.time_wait());
        let (retire_tx, retire_rx) = mpsc::unbounded_channel();
        Arc::new(Shared {
            config,
            state: Mutex::new(State::new(ledger)),
            closed: AtomicBool::new(false),
            retiring: AtomicUsize::new(0),
            retire_tx,
            retire_rx: Mutex::new(Some(retire_rx)),
            background_started: AtomicBool::new(false),
            reaper_wake: Arc::new(Notify::new()),
            drained: Notify::new(),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Starts the retirement worker and the idle reaper, once, from inside a
    /// tokio runtime. Without a runtime it does nothing and tries again on the
    /// next checkout.
    pub(crate) fn start_background(self: &Arc<Self>) {
        if self.background_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.background_started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(rx) = self.retire_rx.lock().take() {
            runtime.spawn(crate::retire::worker(rx, Arc::downgrade(self)));
        }
        runtime.spawn(crate::pool::reaper::run(
            Arc::downgrade(self),
            self.reaper_wake.clone(),
        ));
    }

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
    pub(crate) fn acquire(self: &Arc<Self>, key: &K, refused: bool) -> Acquire<K, C> {
        let mut evicted = Vec::new();
        let acquired = self.acquire_locked(key, refused, &mut evicted);
        if !evicted.is_empty() {
            // The lock is released: the forgotten keys' connections can go.
            for idle in evicted {
                // Their counts left with their key: the slot stays disarmed.
                self.retire(idle.slot, idle.conn, RetireReason::Evicted);
            }
        }
        acquired
    }

    fn acquire_locked(
        self: &Arc<Self>,
        key: &K,
        refused: bool,
        evicted: &mut Vec<Idle<K, C>>,
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
        let entry = match state.keys.get_mut(key) {
            Some(entry) => entry,
            None => state.add_key(key, tick, limits.max_keys, evicted),
        };
        entry.last_used = tick;
        if let Some(idle) = entry.idle.pop_back() {
            entry.activity.reuses += 1;
            state.activity.reuses += 1;
            let deadline = idle.deadline;
            let (conn, slot) = idle.into_lent();
            return Acquire::Idle(conn, slot, deadline);
        }
        if entry.open >= limits.max_open_per_key {
            let (tx, rx) = oneshot::channel();
            entry.waiters.push_back(tx);
            entry.activity.waits += 1;
            state.activity.waits += 1;
            return Acquire::Wait(Waiter::new(rx));
        }
        entry.open += 1;
        entry.connecting += 1;
        state.total_open += 1;
        // Over the total cap: retire the idle connection of the least
        // recently used other key. One exists, since every open connection
        // that is not idle holds one of the `max_total` readiness permits and
        // this checkout holds one too.
        let victim = if state.total_open > limits.max_total {
            state.least_recent_with_idle(key).and_then(|victim_key| {
                let idle = state.keys.get_mut(&victim_key)?.idle.pop_front()?;
                // Its unit leaves under this lock and its slot stays
                // disarmed, so no snapshot ever counts more than `max_total`
                // connections, not even between here and the retirement.
                state.unit_closed(&victim_key);
                Some(idle)
            })
        } else {
            None
        };
        drop(guard);
        if let Some(idle) = victim {
            self.retire(idle.slot, idle.conn, RetireReason::Evicted);
        }
        Acquire::Connect(Slot::connecting(key.clone(), Arc::downgrade(self)))
    }

    /// Gives a slot's unit back: to the key's first live waiter, as room to
    /// connect, or to the counts. Called by [`Slot`]'s `Drop`.
    pub(crate) fn release(self: &Arc<Self>, key: &K, was_connecting: bool) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let Some(entry) = state.keys.get_mut(key) else {
            return;
        };
        if was_connecting {
            entry.connecting = entry.connecting.saturating_sub(1);
        }
        while let Some(waiter) = entry.waiters.pop_front() {
            entry.connecting += 1;
            let slot = Slot::connecting(key.clone(), Arc::downgrade(self));
            match waiter.send(Handoff::Slot(slot)) {
                Ok(()) => return,
                Err(handoff) => {
                    entry.connecting -= 1;
                    handoff.disarm();
                }
            }
        }
        state.unit_closed(key);
        if state.closed {
            self.drained.notify_waiters();
        }
    }

    /// A connecting slot's connection exists: count it and learn where it goes.
    pub(crate) fn connected(&self, slot: &mut Slot<K, C>, destination: Option<Destination>) {
        let mut state = self.state.lock();
        state.activity.connects += 1;
        if let Some(entry) = state.keys.get_mut(slot.key()) {
            entry.connecting = entry.connecting.saturating_sub(1);
            entry.activity.connects += 1;
            if destination.is_some() {
                entry.destination = destination;
            }
        }
        slot.connected();
    }

    /// Takes back a reuse counted for a connection of `key` that was not
    /// lent (see [`Shared::acquire`]).
    pub(crate) fn uncount_reuse(&self, key: &K) {
        self.state.lock().uncount_reuse(key);
    }

    /// Counts one event in the key's activity and the pool's.
    pub(crate) fn count(&self, key: &K, event: fn(&mut Activity)) {
        let mut state = self.state.lock();
        event(&mut state.activity);
        if let Some(entry) = state.keys.get_mut(key) {
            event(&mut entry.activity);
        }
    }

    /// Asks the port budget whether `key` may open a connection now. Keys
    /// whose destination is not known yet, or toward which the kernel reuses
    /// TIME_WAIT ports, always may.
    pub(crate) fn admit(&self, key: &K, now: Instant) -> (Admission, Option<Destination>) {
        let state = self.state.lock();
        let Some(entry) = state.keys.get(key) else {
            return (Admission::Go, None);
        };
        let Some(destination) = entry.destination else {
            return (Admission::Go, None);
        };
        if self.config.tw_reuse.reuses_for(destination.remote.ip()) {
            return (Admission::Go, Some(destination));
        }
        let usage = state.ledger.usage(&destination, now.into_std());
        // This checkout's own slot is counted in `open`; it has no port yet.
        let in_use = entry.open.saturating_sub(1);
        (self.config.budget.admit(in_use, usage), Some(destination))
    }

    /// Where `key`'s connections go, once one was made.
    pub(crate) fn destination(&self, key: &K) -> Option<Destination> {
        self.state
            .lock()
            .keys
            .get(key)
            .and_then(|entry| entry.destination)
    }

    /// The ledger's next release toward `destination`.
    pub(crate) fn next_release(&self, destination: &Destination, now: Instant) -> Option<Instant> {
        let state = self.state.lock();
        let next = state.ledger.next_release(destination, now.into_std())?;
        Some(Instant::from_std(next))
    }

    /// Retires the idle connections whose deadline has come, forgets ledger
    /// entries that ended, and says when to come back.
    pub(crate) fn reap(self: &Arc<Self>, now: Instant) -> Option<Instant> {
        let mut expired = Vec::new();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let mut next: Option<Instant> = None;
        for entry in state.keys.values_mut() {
            let mut i = 0;
            while i < entry.idle.len() {
                match entry.idle.get(i).and_then(|idle| idle.deadline) {
                    Some(deadline) if deadline <= now => {
                        if let Some(idle) = entry.idle.remove(i) {
                            expired.push(idle);
                        }
                    }
                    Some(deadline) => {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                        i += 1;
                    }
                    None => i += 1,
                }
            }
        }
        state.next_reap = next;
        state.ledger.expire(now.into_std());
        drop(guard);
        for idle in expired {
            let (conn, slot) = idle.into_lent();
            self.retire(slot, conn, RetireReason::Expired);
        }
        next
    }

    /// Counts a finished retirement, and charges a local close to the
    /// destination's ledger.
    pub(crate) fn record_retired(
        &self,
        key: &K,
        destination: Option<Destination>,
        closed_by: ClosedBy,
    ) {
        let now = Instant::now().into_std();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        state.activity.retired.count(closed_by);
        if let Some(entry) = state.keys.get_mut(key) {
            entry.activity.retired.count(closed_by);
        }
        if closed_by.leaves_local_time_wait() {
            if let Some(destination) = destination {
                state.ledger.record(destination, now);
            }
        }
        drop(guard);
        tracing::debug!(key = ?key, closed_by = %closed_by, "retired");
        if self.is_closed() {
            self.drained.notify_waiters();
        }
    }

    /// Queues a retirement for the background worker. Gives the job back when
    /// the worker is gone.
    pub(crate) fn queue_retirement(&self, job: Job<K, C>) -> Result<(), Box<Job<K, C>>> {
        self.retire_tx.send(job).map_err(|e| Box::new(e.0))
    }

    /// Stops lending: marks the pool closed and takes every idle connection
    /// and waiter out.
    pub(crate) fn close(self: &Arc<Self>) -> Vec<(K, Conn<C>)> {
        let mut guard = self.state.lock();
        guard.closed = true;
        self.closed.store(true, Ordering::Release);
        let mut idle = Vec::new();
        for (key, entry) in guard.keys.iter_mut() {
            // Dropping the senders wakes each waiter with "closed".
            entry.waiters.clear();
            idle.extend(entry.idle.drain(..).map(|i| (key.clone(), i.conn)));
        }
        idle
    }

    pub(crate) fn stats(&self) -> PoolStats<K> {
        let now = Instant::now().into_std();
        let state = self.state.lock();
        let mut total = KeyStats {
            local_time_wait: state.ledger.total_live(now),
            activity: state.activity,
            ..KeyStats::default()
        };
        let keys: Vec<(K, KeyStats)> = state
            .keys
            .iter()
            .map(|(k, entry)| (k.clone(), entry.stats(&state.ledger, now)))
            .collect();
        for (_, s) in &keys {
            total.open += s.open;
            total.idle += s.idle;
            total.in_use += s.in_use;
            total.connecting += s.connecting;
            total.waiting += s.waiting;
        }
        PoolStats {
            total,
            retiring: self.retiring.load(Ordering::Acquire),
            keys,
        }
    }

    pub(crate) fn weak(self: &Arc<Self>) -> Weak<Self> {
        Arc::downgrade(self)
    }
}

impl<K: Key, C: Connection> Drop for Shared<K, C> {
    /// The last handle is gone: idle connections are retired under their
    /// policy by the worker (which drains its queue and ends), and the reaper
    /// is told to end.
    fn drop(&mut self) {
        let state = self.state.get_mut();
        let idle: Vec<_> = state
            .keys
            .iter_mut()
            .flat_map(|(key, entry)| entry.idle.drain(..).map(move |i| (key.clone(), i.conn)))
            .collect();
        for (key, conn) in idle {
            crate::retire::retire_orphan(&self.config, &self.retire_tx, key, conn);
        }
        self.reaper_wake.notify_one();
    }
}
