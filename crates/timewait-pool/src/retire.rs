//! Retiring connections under a close policy, off the caller's path.
//!
//! What can be decided at once (the peer already closed, a `Local` or `Abort`
//! policy) is done at once. A `PeerFirst` retirement that must wait for the
//! peer's FIN becomes a [`Job`] for the pool's worker task, which runs each
//! job in its own task, bounded by the grace period; the number in flight is
//! bounded by `max_retiring`. The worker ends when the pool is gone and its
//! queue is drained.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, Span};

use crate::config::PoolConfig;
use crate::conn::Conn;
use crate::connection::{Connection, Health, PeerClose};
use crate::farewell::Farewell;
use crate::key::Key;
use crate::policy::{ClosePolicy, ClosedBy, Fallback};
use crate::stats::{Cause, Outcome};

/// Why a connection leaves the pool.
#[derive(Debug)]
pub(crate) enum RetireReason {
    /// It sat idle past its idle limit, keep-alive margin or lifetime.
    Expired,
    /// It was released at the end of its last use (use count or lifetime).
    UsedUp,
    /// Its lease was dropped without a release: the exchange may be
    /// unfinished, the protocol state is unknown.
    Unreleased,
    /// Room was needed (idle limit, total cap) or its key was forgotten.
    Evicted,
    /// The user asked, through the guard.
    Requested,
    /// The user marked it broken, or its I/O failed, or this side shut its
    /// writing half down.
    Broken,
    /// It was released with a read or write through the lease left pending
    /// (see [`Pooled`](crate::Pooled)): an answer may still be on its way.
    Interrupted,
    /// The kernel gave up on it (`ETIMEDOUT`): already closed, without a FIN
    /// from this side.
    TimedOut,
    /// A health check found the peer gone or the protocol out of step.
    Unhealthy(Health),
    /// The pool is shutting down.
    Shutdown,
}

impl RetireReason {
    /// A reason to retire, if the health check gave one.
    pub(crate) fn from_health(health: Health) -> Option<RetireReason> {
        match health {
            Health::Usable => None,
            other => Some(RetireReason::Unhealthy(other)),
        }
    }

    /// The count this retirement goes to in
    /// [`RetireReasons`](crate::RetireReasons).
    pub(crate) fn cause(&self) -> Cause {
        match self {
            RetireReason::Expired => Cause::Expired,
            RetireReason::UsedUp => Cause::UsedUp,
            RetireReason::Unreleased => Cause::Unreleased,
            RetireReason::Evicted => Cause::Evicted,
            RetireReason::Requested => Cause::Requested,
            RetireReason::Broken | RetireReason::Unhealthy(Health::Broken(_)) => Cause::Broken,
            RetireReason::Interrupted => Cause::Interrupted,
            RetireReason::TimedOut => Cause::TimedOut,
            RetireReason::Unhealthy(Health::PeerClosed) => Cause::PeerClosed,
            RetireReason::Unhealthy(Health::PeerReset) => Cause::PeerReset,
            RetireReason::Unhealthy(_) => Cause::UnexpectedData,
            RetireReason::Shutdown => Cause::Shutdown,
        }
    }

    /// Whether the reason is the pool's own (a limit, a request, a cut-off
    /// exchange, shutdown) and so says nothing of what the peer has done
    /// since anyone looked at the socket.
    fn says_nothing_of_the_peer(&self) -> bool {
        matches!(
            self,
            RetireReason::Expired
                | RetireReason::UsedUp
                | RetireReason::Unreleased
                | RetireReason::Evicted
                | RetireReason::Requested
                | RetireReason::Interrupted
                | RetireReason::Shutdown
        )
    }

    /// What the peer is known to have done.
    fn peer(&self) -> Peer {
        match self {
            RetireReason::Unhealthy(Health::PeerClosed) => Peer::Closed,
            RetireReason::Unhealthy(Health::PeerReset) => Peer::Reset,
            // The protocol state is unknown: a farewell could be read as the
            // rest of a half-written request, so none is said, and the peer
            // is not waited for either (see `Pooled`'s docs).
            RetireReason::Unhealthy(Health::Broken(_))
            | RetireReason::Broken
            | RetireReason::Unreleased
            | RetireReason::Interrupted => Peer::Unreachable,
            RetireReason::TimedOut => Peer::TimedOut,
            // Unasked-for bytes (an HTTP server's 408) usually precede the
            // peer's close: wait for it, but say nothing into an unknown
            // protocol state.
            RetireReason::Unhealthy(_) => Peer::Open { farewell: false },
            _ => Peer::Open { farewell: true },
        }
    }
}

/// What the peer is known to have done, as far as closing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Open {
        farewell: bool,
    },
    Closed,
    Reset,
    /// The kernel ended the connection after the peer stopped answering.
    TimedOut,
    Unreachable,
}

/// What to do with a retired connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Close now; the outcome is known.
    Close(ClosedBy),
    /// Abort now.
    Abort,
    /// Apply the fallback now.
    Fallback,
    /// Wait for the peer's FIN, saying the farewell first if asked.
    AwaitPeer { farewell: bool },
}

fn plan(policy: ClosePolicy, peer: Peer) -> Plan {
    match (peer, policy) {
        // The peer's FIN is in: closing now is the passive close.
        (Peer::Closed, _) => Plan::Close(ClosedBy::Peer),
        (Peer::Reset, _) => Plan::Close(ClosedBy::PeerReset),
        (Peer::TimedOut, _) => Plan::Close(ClosedBy::TimedOut),
        (_, ClosePolicy::Local) => Plan::Close(ClosedBy::Local),
        (_, ClosePolicy::Abort) => Plan::Abort,
        (Peer::Unreachable, ClosePolicy::PeerFirst) => Plan::Fallback,
        (Peer::Open { farewell }, ClosePolicy::PeerFirst) => Plan::AwaitPeer { farewell },
    }
}

fn fall_back<C: Connection>(io: C, fallback: Fallback) -> ClosedBy {
    match fallback {
        Fallback::Local => {
            io.close();
            ClosedBy::Local
        }
        Fallback::Abort => {
            io.abort();
            ClosedBy::Abort
        }
    }
}

/// A retirement that waits for the peer.
pub(crate) struct Job<K, C> {
    key: K,
    conn: Conn<C>,
    /// What the retirement is counted as.
    cause: Cause,
    farewell: Option<Arc<dyn Farewell<K, C>>>,
    grace: Duration,
    fallback: Fallback,
    /// The `retire` span; its `closer` is recorded when the job ends.
    span: Span,
}

impl<K: fmt::Debug, C> fmt::Debug for Job<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("key", &self.key)
            .field("farewell", &self.farewell.is_some())
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl<K: Key, C: Connection> Job<K, C> {
    /// Runs the job inside its `retire` span, and records who closed.
    pub(crate) async fn run(self) -> Outcome<K> {
        let span = self.span.clone();
        let outcome = self.close().instrument(span.clone()).await;
        span.record("closer", tracing::field::display(outcome.closed_by));
        outcome
    }

    /// Says the farewell, reads until the peer's FIN, then closes: the whole
    /// bounded by the grace period, after which the fallback applies.
    async fn close(self) -> Outcome<K> {
        let Job {
            key,
            conn,
            cause,
            farewell,
            grace,
            fallback,
            span: _,
        } = self;
        let Conn {
            mut io,
            destination,
            ..
        } = conn;
        let destination = destination.map(|d| *d);
        // A grace too long to add to now never runs out.
        let deadline = Instant::now().checked_add(grace);
        let outcome = |key, closed_by| Outcome {
            key,
            destination,
            closed_by,
            cause,
        };
        if let Some(farewell) = farewell {
            match within(deadline, farewell.say(&key, &mut io)).await {
                Some(Ok(())) => {}
                // A peer that cannot be told may still be closing: its FIN
                // (or reset) is what the wait below looks for.
                Some(Err(error)) => tracing::debug!(key = ?key, %error, "farewell failed"),
                None => return outcome(key, fall_back(io, fallback)),
            }
        }
        let closed_by = match within(deadline, io.peer_close()).await {
            Some(Ok(PeerClose::Fin)) => {
                io.close();
                ClosedBy::Peer
            }
            Some(Ok(PeerClose::Reset)) => {
                io.close();
                ClosedBy::PeerReset
            }
            Some(Err(error)) => {
                tracing::debug!(key = ?key, %error, "read failed while waiting for the peer's close");
                fall_back(io, fallback)
            }
            None => {
                tracing::debug!(key = ?key, ?grace, "the peer did not close within the grace period");
                fall_back(io, fallback)
            }
        };
        outcome(key, closed_by)
    }
}

impl<K: Key, C: Connection> Job<K, C> {
    /// Gives up waiting before it began: the fallback, at once.
    /// What the retirement comes to if the job is dropped unfinished (its
    /// runtime shut down with it): its socket is closed by the drop, from
    /// this side.
    pub(crate) fn if_dropped(&self) -> Outcome<K>
    where
        K: Clone,
    {
        Outcome {
            key: self.key.clone(),
            destination: self.conn.destination.as_deref().copied(),
            closed_by: ClosedBy::Local,
            cause: self.cause,
        }
    }

    pub(crate) fn fall_back_now(self) -> Outcome<K> {
        let closed_by = fall_back(self.conn.io, self.fallback);
        self.span
            .record("closer", tracing::field::display(closed_by));
        Outcome {
            key: self.key,
            destination: self.conn.destination.as_deref().copied(),
            closed_by,
            cause: self.cause,
        }
    }
}

/// `future`'s output, unless `deadline` comes first (`None`: no deadline).
async fn within<F: Future>(deadline: Option<Instant>, future: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => timeout_at(deadline, future).await.ok(),
        None => Some(future.await),
    }
}

/// What retiring a connection came to.
pub(crate) enum Retirement<K, C> {
    /// Closed now: the outcome is known.
    Closed(Outcome<K>),
    /// A job that waits for the peer, for the pool's worker.
    AwaitPeer(Job<K, C>),
}

/// Starts retiring `conn` for `reason` under the key's policy: closes it at
/// once when the plan allows, else makes the job that waits for the peer.
pub(crate) fn begin<K: Key, C: Connection>(
    config: &PoolConfig<K, C>,
    key: K,
    mut conn: Conn<C>,
    reason: RetireReason,
) -> Retirement<K, C> {
    let cause = reason.cause();
    // A connection the peer has closed or reset since it was last looked at
    // (an idle one past its limit, one returned after the server's
    // `Connection: close`) needs no farewell and no fallback: one look says
    // what the peer did, so no TIME_WAIT that is the server's is charged
    // here.
    let reason = if reason.says_nothing_of_the_peer() {
        let health = conn.io.health();
        if health.peer_ended() {
            RetireReason::Unhealthy(health)
        } else {
            reason
        }
    } else {
        reason
    };
    let policy = config.policy_for(&key);
    let span = retire_span(&key, policy);
    let _entered = span.enter();
    tracing::debug!(?reason, "retiring");
    let destination = conn.destination.as_deref().copied();
    let closed_by = match plan(policy, reason.peer()) {
        Plan::Close(closed_by) => {
            conn.io.close();
            closed_by
        }
        Plan::Abort => {
            conn.io.abort();
            ClosedBy::Abort
        }
        Plan::Fallback => fall_back(conn.io, config.fallback),
        Plan::AwaitPeer { farewell } => {
            return Retirement::AwaitPeer(Job {
                key,
                conn,
                cause,
                farewell: if farewell {
                    config.farewell.clone()
                } else {
                    None
                },
                grace: config.grace,
                fallback: config.fallback,
                span: span.clone(),
            });
        }
    };
    span.record("closer", tracing::field::display(closed_by));
    Retirement::Closed(Outcome {
        key,
        destination,
        closed_by,
        cause,
    })
}

/// The span of one retirement: `key` and `policy` now, `closer` (a
/// [`ClosedBy`]) once the connection is closed.
fn retire_span<K: Key>(key: &K, policy: ClosePolicy) -> Span {
    tracing::debug_span!(
        "retire",
        key = ?key,
        policy = %policy,
        closer = tracing::field::Empty,
    )
}

/// Retires an idle connection of a pool that is being dropped: there are no
/// stats to keep, but a `PeerFirst` connection still gets its farewell and
/// its wait, if the worker runs.
pub(crate) fn retire_orphan<K: Key, C: Connection>(
    config: &PoolConfig<K, C>,
    queue: Option<&mpsc::UnboundedSender<Job<K, C>>>,
    key: K,
    conn: Conn<C>,
) {
    match config.policy_for(&key) {
        ClosePolicy::PeerFirst => {
            let job = Job {
                span: retire_span(&key, ClosePolicy::PeerFirst),
                key,
                conn,
                cause: Cause::Shutdown,
                farewell: config.farewell.clone(),
                grace: config.grace,
                fallback: config.fallback,
            };
            let refused = match queue {
                Some(queue) => queue.send(job).err().map(|refused| refused.0),
                None => Some(job),
            };
            if let Some(job) = refused {
                fall_back(job.conn.io, config.fallback);
            }
        }
        ClosePolicy::Abort => conn.io.abort(),
        _ => conn.io.close(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_already_closed_is_a_passive_close_under_every_policy() {
        for policy in [
            ClosePolicy::PeerFirst,
            ClosePolicy::Local,
            ClosePolicy::Abort,
        ] {
            assert_eq!(plan(policy, Peer::Closed), Plan::Close(ClosedBy::Peer));
            assert_eq!(plan(policy, Peer::Reset), Plan::Close(ClosedBy::PeerReset));
        }
    }

    #[test]
    fn peer_first_waits_for_the_peer_unless_the_connection_is_broken() {
        let open = Peer::Open { farewell: true };
        assert_eq!(
            plan(ClosePolicy::PeerFirst, open),
            Plan::AwaitPeer { farewell: true }
        );
        assert_eq!(
            plan(ClosePolicy::PeerFirst, Peer::Unreachable),
            Plan::Fallback
        );
        assert_eq!(plan(ClosePolicy::Local, open), Plan::Close(ClosedBy::Local));
        assert_eq!(plan(ClosePolicy::Abort, open), Plan::Abort);
    }

    #[test]
    fn unasked_for_data_waits_for_the_peer_without_a_farewell() {
        let reason = RetireReason::Unhealthy(Health::UnexpectedData);
        assert_eq!(reason.peer(), Peer::Open { farewell: false });
        assert_eq!(RetireReason::Expired.peer(), Peer::Open { farewell: true });
    }
}
