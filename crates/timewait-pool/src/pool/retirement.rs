//! Carrying retirements out for the pool: at once when the plan allows, or
//! through the pool's worker task, with every outcome counted.
//!
//! What to do with a retired connection (its plan, the job that waits for
//! the peer) is `retire`'s; this module holds what needs the pool's state.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::retire::{self, Job, RetireReason, Retirement};
use crate::stats::Outcome;

impl<K: Key, C: Connection> Shared<K, C> {
    /// Retires a connection: gives its slot back, then closes it under the
    /// key's policy, now or through the worker (bounded by `max_retiring`;
    /// past it, the fallback at once).
    pub(crate) fn retire(self: &Arc<Self>, slot: Slot<K, C>, conn: Conn<C>, reason: RetireReason) {
        let key = slot.key().clone();
        drop(slot);
        let outcome = match retire::begin(&self.config, key, conn, reason) {
            Retirement::Closed(outcome) => outcome,
            Retirement::AwaitPeer(job) => {
                let in_flight = self.retiring.fetch_add(1, Ordering::AcqRel);
                let refused = if in_flight >= self.config.limits.max_retiring {
                    Err(Box::new(job))
                } else {
                    self.queue_retirement(job)
                };
                match refused {
                    Ok(()) => return,
                    Err(job) => {
                        self.retiring.fetch_sub(1, Ordering::AcqRel);
                        tracing::debug!("too many retirements in flight: falling back");
                        job.fall_back_now()
                    }
                }
            }
        };
        self.record_retired(outcome);
    }
}

/// The pool's retirement worker: runs each job in its own task and records
/// the outcome while the pool lives. Ends once the pool is gone and every
/// queued and running job has finished (each bounded by the grace period).
///
/// A worker dropped with its runtime drops the jobs it holds, queued or
/// running: each still gives back its count in `retiring` and is recorded
/// (see [`InFlight`]), so that a shutdown on a later runtime does not wait
/// for retirements that no longer exist.
pub(crate) async fn worker<K: Key, C: Connection>(mut inbox: Inbox<K, C>) {
    let pool = inbox.pool.clone();
    let mut running = JoinSet::new();
    let failed = |outcome: Result<(), tokio::task::JoinError>| {
        if let Err(error) = outcome {
            tracing::warn!(%error, "a retirement task failed");
        }
    };
    loop {
        tokio::select! {
            job = inbox.queue.recv() => match job {
                Some(job) => {
                    let in_flight = InFlight::new(&pool, &job);
                    running.spawn(async move {
                        let outcome = job.run().await;
                        in_flight.finish(outcome);
                    });
                }
                None => break,
            },
            Some(outcome) = running.join_next(), if !running.is_empty() => failed(outcome),
        }
    }
    while let Some(outcome) = running.join_next().await {
        failed(outcome);
    }
}

/// A retirement the worker runs, counted in `retiring` until it ends.
/// Dropped unfinished (its task was dropped with its runtime, or panicked),
/// it is recorded as its job's [`if_dropped`](Job::if_dropped) outcome.
/// Either way its count is given back after the outcome is recorded, so a
/// shutdown that sees `retiring` reach zero sees every outcome.
struct InFlight<K: Key, C: Connection> {
    pool: Weak<Shared<K, C>>,
    unfinished: Option<Outcome<K>>,
}

impl<K: Key, C: Connection> InFlight<K, C> {
    fn new(pool: &Weak<Shared<K, C>>, job: &Job<K, C>) -> Self {
        InFlight {
            pool: pool.clone(),
            unfinished: Some(job.if_dropped()),
        }
    }

    /// The job ended with `outcome`.
    fn finish(mut self, outcome: Outcome<K>) {
        self.unfinished = None;
        if let Some(shared) = self.pool.upgrade() {
            shared.record_retired(outcome);
        }
    }
}

impl<K: Key, C: Connection> Drop for InFlight<K, C> {
    fn drop(&mut self) {
        let Some(shared) = self.pool.upgrade() else {
            return;
        };
        if let Some(outcome) = self.unfinished.take() {
            tracing::debug!(key = ?outcome.key, "a retirement was dropped unfinished");
            shared.record_retired(outcome);
        }
        shared.retiring.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The worker's queue: jobs still in it when the worker is dropped (with
/// its runtime, polled or not) are counted out as dropped.
pub(crate) struct Inbox<K: Key, C: Connection> {
    queue: mpsc::UnboundedReceiver<Job<K, C>>,
    pool: Weak<Shared<K, C>>,
}

impl<K: Key, C: Connection> Inbox<K, C> {
    pub(crate) fn new(queue: mpsc::UnboundedReceiver<Job<K, C>>, pool: Weak<Shared<K, C>>) -> Self {
        Inbox { queue, pool }
    }
}

impl<K: Key, C: Connection> Drop for Inbox<K, C> {
    fn drop(&mut self) {
        self.queue.close();
        while let Ok(job) = self.queue.try_recv() {
            let in_flight = InFlight::new(&self.pool, &job);
            // The socket closes first, then the outcome is recorded.
            drop(job);
            drop(in_flight);
        }
    }
}
