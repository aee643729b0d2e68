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
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::lock::Mutex;
use crate::pool::slot::Slot;
use crate::pool::state::State;
use crate::retire::{Job, Outcome, RetireReason};
use crate::stats::{Activity, Cause, KeyStats, PoolStats};

pub(crate) struct Shared<K: Key, C: Connection> {
    pub(crate) config: PoolConfig<K, C>,
    pub(super) state: Mutex<State<K, C>>,
    /// Set once with the state's `closed`, readable without the lock.
    closed: AtomicBool,
    pub(crate) retiring: AtomicUsize,
    /// The retirement worker's queue, while a worker runs.
    retire_tx: Mutex<Option<mpsc::UnboundedSender<Job<K, C>>>>,
    /// Whether the worker and the reaper run; cleared when either ends (its
    /// runtime shut down), so that the next checkout starts them again.
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
        Arc::new(Shared {
            config,
            state: Mutex::new(State::new(ledger)),
            closed: AtomicBool::new(false),
            retiring: AtomicUsize::new(0),
            retire_tx: Mutex::new(None),
            background_started: AtomicBool::new(false),
            reaper_wake: Arc::new(Notify::new()),
            drained: Notify::new(),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Starts the retirement worker and the idle reaper from inside a tokio
    /// runtime, unless they run. Without a runtime it does nothing and tries
    /// again on the next checkout; a pool that outlives the runtime its tasks
    /// ran on gets new ones on its next checkout (the reaper ends the waits
    /// of timed-out checkouts, so it must run wherever checkouts wait).
    pub(crate) fn start_background(self: &Arc<Self>) {
        if self.background_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.background_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        *self.retire_tx.lock() = Some(tx);
        let worker = crate::pool::retirement::worker(rx, Arc::downgrade(self));
        runtime.spawn(Background::new(self).running(worker));
        let reaper = crate::pool::reaper::run(Arc::downgrade(self), self.reaper_wake.clone());
        runtime.spawn(Background::new(self).running(reaper));
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

    /// How many local TIME_WAIT entries the ledger holds toward
    /// `destination`.
    pub(crate) fn ports_in_time_wait(&self, destination: &Destination, now: Instant) -> usize {
        self.state.lock().ledger.live(destination, now.into_std())
    }

    /// Counts the time a checkout waited for a port.
    pub(crate) fn count_budget_wait(&self, key: &K, waited: std::time::Duration) {
        let mut state = self.state.lock();
        state.activity.budget_wait_time += waited;
        if let Some(entry) = state.keys.get_mut(key) {
            entry.activity.budget_wait_time += waited;
        }
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

    /// Retires the idle connections whose deadline has come, ends the waits
    /// of checkouts past their deadline, forgets ledger entries that ended,
    /// and says when to come back.
    pub(crate) fn reap(self: &Arc<Self>, now: Instant) -> Option<Instant> {
        let mut expired = Vec::new();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let mut next: Option<Instant> = None;
        let mut timed_out = Vec::new();
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
        // Checkouts past their deadline stop waiting: their senders are
        // dropped once the lock is released, which wakes them.
        if let Some(waiting) = state.queue.expire(now, &mut timed_out) {
            next = Some(next.map_or(waiting, |n| n.min(waiting)));
        }
        state.next_reap = next;
        state.ledger.expire(now.into_std());
        drop(guard);
        drop(timed_out);
        for idle in expired {
            let (conn, slot) = idle.into_lent();
            self.retire(slot, conn, RetireReason::Expired);
        }
        next
    }

    /// Counts a finished retirement by who closed and why, charges a local
    /// close to the destination's ledger, and warns when most of the key's
    /// leases end without a release.
    pub(crate) fn record_retired(&self, outcome: Outcome<K>) {
        let Outcome {
            key,
            destination,
            closed_by,
            cause,
        } = outcome;
        let now = Instant::now();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        state.activity.retired.count(closed_by);
        *state.activity.reasons.counter(cause) += 1;
        let mut warning = None;
        if let Some(entry) = state.keys.get_mut(&key) {
            entry.activity.retired.count(closed_by);
            *entry.activity.reasons.counter(cause) += 1;
            if cause == Cause::Unreleased {
                warning = entry.unreleased.check(&entry.activity, now);
            }
        }
        if closed_by.leaves_local_time_wait() {
            if let Some(destination) = destination {
                state.ledger.record(destination, now.into_std());
            }
        }
        drop(guard);
        tracing::debug!(key = ?key, closed_by = %closed_by, ?cause, "retired");
        if let Some(warning) = warning {
            warning.log(&key);
        }
        if self.is_closed() {
            self.drained.notify_waiters();
        }
    }

    /// Queues a retirement for the background worker. Gives the job back when
    /// the worker is gone.
    pub(crate) fn queue_retirement(&self, job: Job<K, C>) -> Result<(), Box<Job<K, C>>> {
        match &*self.retire_tx.lock() {
            Some(queue) => queue.send(job).map_err(|e| Box::new(e.0)),
            None => Err(Box::new(job)),
        }
    }

    /// Stops lending: marks the pool closed and takes every idle connection
    /// and waiter out.
    pub(crate) fn close(self: &Arc<Self>) -> Vec<(K, Conn<C>)> {
        let mut guard = self.state.lock();
        guard.closed = true;
        self.closed.store(true, Ordering::Release);
        let waiting = guard.queue.drain();
        let mut idle = Vec::new();
        for (key, entry) in guard.keys.iter_mut() {
            idle.extend(entry.idle.drain(..).map(|i| (key.clone(), i.conn)));
        }
        drop(guard);
        // Dropping the senders wakes each waiter with "closed", out of the
        // lock.
        drop(waiting);
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
        let mut waiting: std::collections::HashMap<&K, usize> = std::collections::HashMap::new();
        for key in state.queue.live() {
            *waiting.entry(key).or_default() += 1;
        }
        let keys: Vec<(K, KeyStats)> = state
            .keys
            .iter()
            .map(|(k, entry)| {
                let waiting = waiting.get(k).copied().unwrap_or(0);
                (k.clone(), entry.stats(&state.ledger, now, waiting))
            })
            .collect();
        for (_, s) in &keys {
            total.open += s.open;
            total.idle += s.idle;
            total.in_use += s.in_use;
            total.connecting += s.connecting;
        }
        // Checkouts of keys not remembered (yet) wait too.
        total.waiting = waiting.values().sum();
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
            crate::retire::retire_orphan(
                &self.config,
                self.retire_tx.get_mut().as_ref(),
                key,
                conn,
            );
        }
        self.reaper_wake.notify_one();
    }
}

/// Held by each background task: when the task ends (the pool is gone, or
/// the task's runtime shut down and dropped it), the pool's next checkout
/// starts the tasks again.
struct Background<K: Key, C: Connection> {
    shared: Weak<Shared<K, C>>,
}

impl<K: Key, C: Connection> Background<K, C> {
    fn new(shared: &Arc<Shared<K, C>>) -> Self {
        Background {
            shared: Arc::downgrade(shared),
        }
    }

    /// Runs `task`, holding this guard until it ends or is dropped.
    async fn running(self, task: impl std::future::Future<Output = ()>) {
        task.await;
        drop(self);
    }
}

impl<K: Key, C: Connection> Drop for Background<K, C> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.background_started.store(false, Ordering::Release);
        }
    }
}
