//! The state every clone of a pool shares, and the short locked steps on it.
//!
//! # Concurrency note
//!
//! The lock guards the pool's [books](crate::book), which hold no socket,
//! task or guard: each method takes it for one of their steps, never across
//! an `.await`, and carries out what the step returns after letting go.
//! Work that may take the lock again (dropping an armed [`Slot`], retiring a
//! connection) or that calls into the connection (health checks) happens
//! after the guard is dropped.
//!
//! The books' idle sets have locks of their own, one per stripe of keys: a
//! checkout served by an idle connection and a release that parks one take
//! only their key's stripe, and everything else takes the books' lock and
//! then the stripes it needs (see `book/idle.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use timewait_core::budget::Admission;
use timewait_core::ledger::{Destination, TimeWaitLedger};

use crate::book::{Book, IdleSets, KeyHasher};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::config::{Ends, PoolConfig};
use crate::connection::Connection;
use crate::key::Key;
use crate::lock::{Mutex, OwnLines};
use crate::pool::connect::MakeConnection;
use crate::pool::slot::Slot;
use crate::pool::state::{Books, Idle};
use crate::retire::{Job, RetireReason};
use crate::stats::{Activity, Outcome, PoolStats};

pub(crate) struct Shared<K: Key, C: Connection> {
    pub(crate) config: PoolConfig<K, C>,
    /// What ends a connection's use or rest, from the configuration.
    pub(crate) ends: Ends,
    pub(super) state: OwnLines<Mutex<Books<K, C>>>,
    /// The books' idle sets, for the steps that need nothing else of them.
    pub(super) idle: Arc<IdleSets<K, Idle<K, C>>>,
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
    /// The pool's connector, kept by the first checkout that may connect.
    connector: OnceLock<Box<dyn MakeConnection<K, C>>>,
    /// The books' hasher, to hash a key before taking the lock.
    pub(crate) key_hasher: KeyHasher,
}

impl<K: Key, C: Connection> Shared<K, C> {
    pub(crate) fn new(config: PoolConfig<K, C>) -> Arc<Self> {
        let ledger = TimeWaitLedger::new(config.budget.time_wait());
        let key_hasher = KeyHasher::default();
        let ends = config.ends();
        let books = Book::new(config.limits, ends, ledger, key_hasher.clone());
        Arc::new(Shared {
            ends,
            config,
            idle: Arc::clone(books.idle_sets()),
            state: OwnLines(Mutex::new(books)),
            closed: AtomicBool::new(false),
            retiring: AtomicUsize::new(0),
            retire_tx: Mutex::new(None),
            background_started: AtomicBool::new(false),
            reaper_wake: Arc::new(Notify::new()),
            drained: Notify::new(),
            connector: OnceLock::new(),
            key_hasher,
        })
    }

    /// Keeps the connector that `make` returns, unless one is kept.
    pub(crate) fn keep_connector(&self, make: impl FnOnce() -> Box<dyn MakeConnection<K, C>>) {
        if self.connector.get().is_none() {
            let _ = self.connector.set(make());
        }
    }

    /// The connector a checkout connects with, once one was kept.
    pub(crate) fn connector(&self) -> Option<&dyn MakeConnection<K, C>> {
        self.connector.get().map(|connector| &**connector)
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
        let inbox = crate::pool::retirement::Inbox::new(rx, Arc::downgrade(self));
        let worker = crate::pool::retirement::worker(inbox);
        runtime.spawn(Background::new(self).running(worker));
        let reaper = crate::pool::reaper::run(Arc::downgrade(self), self.reaper_wake.clone());
        runtime.spawn(Background::new(self).running(reaper));
    }

    /// A connecting slot's connection exists: count it and learn where it goes.
    pub(crate) fn connected(&self, slot: &mut Slot<K, C>, destination: Option<Destination>) {
        self.state.lock().connected(slot.key(), destination);
        slot.connected();
    }

    /// Takes back a reuse counted for a connection of `key` that was not
    /// lent (see [`Shared::acquire`]).
    pub(crate) fn uncount_reuse(&self, key: &K) {
        self.state.lock().uncount_reuse(key);
    }

    /// Counts one event in the key's activity and the pool's.
    pub(crate) fn count(&self, key: &K, event: fn(&mut Activity)) {
        self.state.lock().count(key, event);
    }

    /// Asks the port budget whether `key` may open a connection now. Keys
    /// whose destination is not known yet, or toward which the kernel reuses
    /// TIME_WAIT ports, always may.
    pub(crate) fn admit(&self, key: &K, now: Instant) -> (Admission, Option<Destination>) {
        self.state
            .lock()
            .admit(key, now, &self.config.budget, self.config.tw_reuse)
    }

    /// How many local TIME_WAIT entries the ledger holds toward
    /// `destination`.
    pub(crate) fn ports_in_time_wait(&self, destination: &Destination, now: Instant) -> usize {
        self.state.lock().ledger.live(destination, now.into_std())
    }

    /// Counts the time a checkout waited for a port.
    pub(crate) fn count_budget_wait(&self, key: &K, waited: std::time::Duration) {
        self.state
            .lock()
            .count(key, |a| a.budget_wait_time += waited);
    }

    /// Where `key`'s connections go, once one was made.
    pub(crate) fn destination(&self, key: &K) -> Option<Destination> {
        self.state.lock().destination(key)
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
        let sweep = self.state.lock().reap(now);
        // Dropping the waiters of checkouts past their deadline wakes them,
        // out of the lock.
        drop(sweep.timed_out);
        for idle in sweep.expired {
            let (conn, slot) = idle.into_lent();
            self.retire(slot, conn, RetireReason::Expired);
        }
        sweep.next
    }

    /// Counts a finished retirement by who closed and why, charges a local
    /// close to the destination's ledger, and warns when most of the key's
    /// leases end without a release.
    pub(crate) fn record_retired(&self, outcome: Outcome<K>) {
        let warning = self.state.lock().record_retired(&outcome, Instant::now());
        tracing::debug!(key = ?outcome.key, closed_by = %outcome.closed_by, cause = ?outcome.cause, "retired");
        if let Some(warning) = warning {
            warning.log(&outcome.key);
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
    /// (still counted: the caller retires them) and waiter out.
    pub(crate) fn close(self: &Arc<Self>) -> Vec<Idle<K, C>> {
        let (waiting, idle) = {
            let mut books = self.state.lock();
            self.closed.store(true, Ordering::Release);
            books.close()
        };
        // Dropping the senders wakes each waiter with "closed", out of the
        // lock.
        drop(waiting);
        idle.into_iter().map(|(_, idle)| idle).collect()
    }

    pub(crate) fn stats(&self) -> PoolStats<K> {
        let retiring = self.retiring.load(Ordering::Acquire);
        self.state.lock().stats(Instant::now(), retiring)
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
        let (_, idle) = self.state.get_mut().close();
        for (key, Idle { conn, .. }) in idle {
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
