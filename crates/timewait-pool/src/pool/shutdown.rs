//! Graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;
use crate::retire::RetireReason;
use crate::stats::Retired;

/// What a [`Pool::shutdown`](crate::Pool::shutdown) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Idle connections retired at once.
    pub idle_retired: usize,
    /// Connections still lent when the deadline came.
    pub still_in_use: usize,
    /// Retirements still waiting for their peer when the deadline came.
    pub still_retiring: usize,
    /// Retirements finished during the shutdown, by who ended the connection.
    pub retired: Retired,
    /// Whether everything ended before the deadline.
    pub completed: bool,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

pub(crate) async fn run<K: Key, C: Connection>(
    shared: &Arc<Shared<K, C>>,
    deadline: Duration,
) -> ShutdownReport {
    let start = Instant::now();
    // A deadline too long to add to now is no deadline.
    let until = start.checked_add(deadline);
    let before = shared.stats().total.activity.retired;
    let idle = shared.close();
    let idle_retired = idle.len();
    tracing::info!(idle = idle_retired, ?deadline, "pool shutting down");
    for idle in idle {
        // The idle connections are still counted as open; their slots give
        // that back.
        let (conn, slot) = idle.into_lent();
        shared.retire(slot, conn, RetireReason::Shutdown);
    }
    let (still_in_use, still_retiring) = loop {
        let drained = shared.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        let stats = shared.stats();
        let retiring = shared.retiring.load(Ordering::Acquire);
        let in_use = stats.total.open;
        let past = until.is_some_and(|until| Instant::now() >= until);
        if (in_use == 0 && retiring == 0) || past {
            break (in_use, retiring);
        }
        match until {
            Some(until) => tokio::select! {
                () = drained => {}
                () = sleep_until(until) => {}
            },
            None => drained.await,
        }
    };
    let after = shared.stats().total.activity.retired;
    let retired = Retired {
        by_peer: after.by_peer - before.by_peer,
        by_peer_reset: after.by_peer_reset - before.by_peer_reset,
        local: after.local - before.local,
        aborted: after.aborted - before.aborted,
        timed_out: after.timed_out - before.timed_out,
    };
    let report = ShutdownReport {
        idle_retired,
        still_in_use,
        still_retiring,
        retired,
        completed: still_in_use == 0 && still_retiring == 0,
        elapsed: start.elapsed(),
    };
    tracing::info!(?report, "pool shut down");
    report
}
