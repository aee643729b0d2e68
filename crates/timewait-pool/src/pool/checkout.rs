//! A checkout: reuse an idle connection, or wait for one, or make one within
//! the key's limit and the destination's port budget (`connect.rs`).
//!
//! A checkout is a small state machine rather than one boxed `async` block:
//! one served at once is a value, one queued holds its waiter and nothing
//! else, and only one that connects (or is traced in a span) boxes its
//! future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tracing::Instrument;

use crate::book::IdleTimes;
use crate::conn::Conn;
use crate::connection::Connection;
use crate::error::{Error, WaitingFor};
use crate::guard::Pooled;
use crate::key::Key;
use crate::policy::HealthCheck;
use crate::pool::acquire::Acquire;
use crate::pool::connect::connect;
use crate::pool::deadline::Deadline;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::Handoff;
use crate::pool::waiter::Waiter;
use crate::retire::RetireReason;

/// The future a [`Pool`](crate::Pool) returns from `call`.
#[must_use = "futures do nothing unless polled"]
pub struct Checkout<K: Key, C: Connection> {
    inner: Inner<K, C>,
}

type BoxCheckout<K, C> = Pin<Box<dyn Future<Output = Result<Pooled<K, C>, Error>> + Send>>;

enum Inner<K: Key, C: Connection> {
    /// Served (or failed) at once; `None` once taken.
    Ready(Option<Result<Pooled<K, C>, Error>>),
    /// Waiting in the queue for a handoff: the checkout's own state, with
    /// nothing allocated but the waiter's channel.
    Queued(Queued<K, C>),
    /// Making a connection, or traced in a span: boxed.
    Running(BoxCheckout<K, C>),
}

/// A checkout waiting for a connection or room to be handed to it.
struct Queued<K: Key, C: Connection> {
    shared: Arc<Shared<K, C>>,
    key: K,
    waiter: Waiter<K, C>,
    wait: Deadline,
}

impl<K: Key, C: Connection> Checkout<K, C> {
    pub(crate) fn ready(result: Result<Pooled<K, C>, Error>) -> Self {
        Checkout {
            inner: Inner::Ready(Some(result)),
        }
    }

    /// A checkout that could not be served at once, from where it stands.
    pub(crate) fn pending(shared: Arc<Shared<K, C>>, key: K, pending: Pending<K, C>) -> Self {
        let span = tracing::debug_span!("checkout", key = ?key);
        let untraced = Checkout {
            inner: resume(shared, key, pending.deadline, pending.acquired),
        };
        // Entering and leaving a span nobody listens to, at every poll,
        // costs more than the rest of a waiting checkout's poll.
        if span.is_disabled() || matches!(untraced.inner, Inner::Ready(_)) {
            untraced
        } else {
            Checkout {
                inner: Inner::Running(Box::pin(untraced.instrument(span))),
            }
        }
    }
}

/// Where a checkout goes from what the books gave it: a connection to
/// check, room to connect, a place in the queue, or the end.
fn resume<K: Key, C: Connection>(
    shared: Arc<Shared<K, C>>,
    key: K,
    wait: Deadline,
    mut acquired: Acquire<K, C>,
) -> Inner<K, C> {
    loop {
        match acquired {
            Acquire::Closed => return Inner::Ready(Some(Err(Error::Closed))),
            Acquire::Connect(slot) => {
                return Inner::Running(Box::pin(connect(shared, wait, key, slot)));
            }
            Acquire::Wait(waiter, _) => {
                tracing::debug!("waiting for a connection of this key");
                // The reaper ends the wait at the deadline: no timer of its
                // own per waiting checkout.
                return Inner::Queued(Queued {
                    shared,
                    key,
                    waiter,
                    wait,
                });
            }
            Acquire::Idle(conn, slot, times) => match shared.lend_idle(conn, slot, times) {
                Some(pooled) => return Inner::Ready(Some(Ok(pooled))),
                None => acquired = shared.acquire(&key, true, Some(wait)),
            },
        }
    }
}

impl<K: Key, C: Connection> Queued<K, C> {
    /// Where the checkout goes with what it was handed (`None`: the pool
    /// closed, or the reaper ended the wait at its deadline).
    fn handed(self, handoff: Option<Handoff<K, C>>) -> Inner<K, C> {
        let Queued {
            shared, key, wait, ..
        } = self;
        let acquired = match handoff {
            None if shared.is_closed() => Acquire::Closed,
            None => {
                let error = wait.timed_out(&shared, &key, WaitingFor::Connection);
                return Inner::Ready(Some(Err(error)));
            }
            Some(Handoff::Slot(slot)) => Acquire::Connect(slot),
            // Just checked in: it has not been idle at all.
            Some(Handoff::Conn(conn, slot)) => Acquire::Idle(conn, slot, IdleTimes::default()),
        };
        resume(shared, key, wait, acquired)
    }
}

// Nothing in a checkout is pinned structurally: the running future is
// boxed, and a queued checkout's waiter is `Unpin`.
impl<K: Key, C: Connection> Unpin for Checkout<K, C> {}

impl<K: Key, C: Connection> Future for Checkout<K, C> {
    type Output = Result<Pooled<K, C>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut self.inner {
                // Polled again after it completed (a misuse): it has nothing
                // more to give, and says so rather than panic.
                Inner::Ready(result) => {
                    return Poll::Ready(result.take().unwrap_or(Err(Error::Closed)));
                }
                Inner::Running(future) => return future.as_mut().poll(cx),
                Inner::Queued(queued) => {
                    let handoff = std::task::ready!(Pin::new(&mut queued.waiter).poll(cx));
                    let Inner::Queued(queued) =
                        std::mem::replace(&mut self.inner, Inner::Ready(None))
                    else {
                        return Poll::Ready(Err(Error::Closed));
                    };
                    self.inner = queued.handed(handoff);
                }
            }
        }
    }
}

impl<K: Key, C: Connection> std::fmt::Debug for Checkout<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.inner {
            Inner::Ready(_) => "ready",
            Inner::Queued(_) => "waiting",
            Inner::Running(_) => "running",
        };
        f.debug_struct("Checkout").field("state", &state).finish()
    }
}

impl<K: Key, C: Connection> Shared<K, C> {
    /// Lends an idle connection if it is young enough and healthy; retires it
    /// otherwise (`None`: try again). Counts nothing: [`Shared::acquire`]
    /// counted the reuse already.
    pub(crate) fn lend_idle(
        self: &Arc<Self>,
        mut conn: Conn<C>,
        slot: Slot<K, C>,
        times: IdleTimes,
    ) -> Option<Pooled<K, C>> {
        // Plain idle deadlines are the reaper's (lending a connection a
        // moment past one harms nobody). Past a deadline set by the peer's
        // keep-alive (configured, or announced by the connection), though, the server may be closing it right now, and a
        // reaper that runs late must not let it be lent. So the clock is read
        // only when a lifetime or such a deadline applies; a use count needs
        // none.
        let set_by_peer = self.config.keep_alive.is_some() || conn.io.peer_idle_limit().is_some();
        let keep_alive_deadline = times.deadline.filter(|_| set_by_peer);
        let checked_after = match self.config.health_check {
            HealthCheck::IdleFor(idle) => Some(idle),
            _ => None,
        };
        let clock = self.config.max_lifetime.is_some()
            || keep_alive_deadline.is_some()
            || checked_after.is_some();
        let now = clock.then(Instant::now);
        let expired = self.ends.used_up(&conn)
            || now.is_some_and(|now| {
                self.ends.too_old(&conn, now) || keep_alive_deadline.is_some_and(|d| d <= now)
            });
        let check = match self.config.health_check {
            HealthCheck::Never => false,
            HealthCheck::IdleFor(idle) => times
                .since
                .zip(now)
                .is_some_and(|(since, now)| now.saturating_duration_since(since) >= idle),
            _ => true,
        };
        let reason = if expired {
            Some(RetireReason::Expired)
        } else if check {
            RetireReason::from_health(conn.io.health())
        } else {
            None
        };
        if let Some(reason) = reason {
            self.retire(slot, conn, reason);
            return None;
        }
        tracing::trace!(key = ?slot.key(), uses = conn.uses, "reuse");
        Some(self.lease(conn, slot, true))
    }

    /// A lease on `conn` (reused, if `reused`), with the pool's rules for
    /// its end and, unless checkouts wait, the way back to its key's
    /// stripe: while they wait, its release goes to one of them through the
    /// books, and the way back would only add two writes of the stripe's
    /// reference count to the two of the pool's.
    pub(crate) fn lease(&self, conn: Conn<C>, slot: Slot<K, C>, reused: bool) -> Pooled<K, C> {
        let stripe = self
            .idle
            .is_quiet()
            .then(|| self.idle.stripe_ref(slot.hash()));
        Pooled::new(conn, slot, reused, &self.ends, stripe)
    }

    /// The synchronous part of a checkout: an idle connection of `key`, if a
    /// healthy one is there; else what the asynchronous part starts from
    /// (room to connect, or a place in the key's queue), taken in the same
    /// locked step.
    pub(crate) fn checkout_now(self: &Arc<Self>, key: &K) -> Result<Pooled<K, C>, Pending<K, C>> {
        let mut refused = false;
        loop {
            match self.acquire(key, refused, None) {
                Acquire::Idle(conn, slot, times) => match self.lend_idle(conn, slot, times) {
                    Some(pooled) => return Ok(pooled),
                    None => refused = true,
                },
                Acquire::Wait(waiter, deadline) => {
                    return Err(Pending {
                        acquired: Acquire::Wait(waiter, deadline),
                        deadline,
                    });
                }
                acquired => {
                    // The clock is read only for a checkout that may wait.
                    let deadline = Deadline::from_now(self.config.checkout_timeout);
                    return Err(Pending { acquired, deadline });
                }
            }
        }
    }
}

/// Where a checkout that could not be served at once stands.
pub(crate) struct Pending<K: Key, C: Connection> {
    /// Never [`Acquire::Idle`]: room to connect, a place in the queue, or
    /// closed.
    acquired: Acquire<K, C>,
    deadline: Deadline,
}
