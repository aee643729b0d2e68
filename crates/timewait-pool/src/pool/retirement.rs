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
pub(crate) async fn worker<K: Key, C: Connection>(
    mut queue: mpsc::UnboundedReceiver<Job<K, C>>,
    pool: Weak<Shared<K, C>>,
) {
    let mut running = JoinSet::new();
    let finished = |outcome: Result<Outcome<K>, tokio::task::JoinError>| {
        let Some(shared) = pool.upgrade() else { return };
        shared.retiring.fetch_sub(1, Ordering::AcqRel);
        match outcome {
            Ok(outcome) => shared.record_retired(outcome),
            Err(error) => tracing::warn!(%error, "a retirement task failed"),
        }
    };
    loop {
        tokio::select! {
            job = queue.recv() => match job {
                Some(job) => {
                    running.spawn(job.run());
                }
                None => break,
            },
            Some(outcome) = running.join_next(), if !running.is_empty() => finished(outcome),
        }
    }
    while let Some(outcome) = running.join_next().await {
        finished(outcome);
    }
}
