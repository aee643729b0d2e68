//! A checkout: reuse an idle connection, or wait for one, or make one within
//! the key's limit and the destination's port budget.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use timewait_core::budget::Admission;
use tokio::time::{Instant, sleep_until};
use tower::{Service, ServiceExt};
use tracing::Instrument;

use crate::book::IdleTimes;
use crate::conn::Conn;
use crate::connection::Connection;
use crate::connector::ConnectError;
use crate::error::{BoxError, Error, WaitingFor};
use crate::guard::Pooled;
use crate::key::Key;
use crate::policy::{HealthCheck, OnPortsExhausted};
use crate::pool::acquire::Acquire;
use crate::pool::deadline::Deadline;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;
use crate::pool::state::Handoff;
use crate::retire::RetireReason;

/// The future a [`Pool`](crate::Pool) returns from `call`.
#[must_use = "futures do nothing unless polled"]
pub struct Checkout<K: Key, C: Connection> {
    inner: Inner<K, C>,
}

type BoxCheckout<K, C> = Pin<Box<dyn Future<Output = Result<Pooled<K, C>, Error>> + Send>>;

enum Inner<K: Key, C: Connection> {
    Ready(Option<Result<Pooled<K, C>, Error>>),
    Waiting(BoxCheckout<K, C>),
}

impl<K: Key, C: Connection> Checkout<K, C> {
    pub(crate) fn ready(result: Result<Pooled<K, C>, Error>) -> Self {
        Checkout {
            inner: Inner::Ready(Some(result)),
        }
    }

    pub(crate) fn waiting(
        future: impl Future<Output = Result<Pooled<K, C>, Error>> + Send + 'static,
    ) -> Self {
        Checkout {
            inner: Inner::Waiting(Box::pin(future)),
        }
    }
}

// Nothing in a checkout is pinned structurally: the waiting future is boxed.
impl<K: Key, C: Connection> Unpin for Checkout<K, C> {}

impl<K: Key, C: Connection> Future for Checkout<K, C> {
    type Output = Result<Pooled<K, C>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            // Polled again after it completed (a misuse): it has nothing
            // more to give, and says so rather than panic.
            Inner::Ready(result) => Poll::Ready(result.take().unwrap_or(Err(Error::Closed))),
            Inner::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl<K: Key, C: Connection> std::fmt::Debug for Checkout<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.inner {
            Inner::Ready(_) => "ready",
            Inner::Waiting(_) => "waiting",
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
        let expired = self.used_up(&conn)
            || now.is_some_and(|now| {
                self.too_old(&conn, now) || keep_alive_deadline.is_some_and(|d| d <= now)
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
        Some(Pooled::new(conn, slot, true, self.config.ends()))
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
    pub(crate) acquired: Acquire<K, C>,
    deadline: Deadline,
}

/// The asynchronous part of a checkout, from what
/// [`Shared::checkout_now`] found.
pub(crate) async fn checkout<K, C, S>(
    shared: Arc<Shared<K, C>>,
    connector: S,
    key: K,
    pending: Pending<K, C>,
) -> Result<Pooled<K, C>, Error>
where
    K: Key,
    C: Connection,
    S: Service<K, Response = C> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let span = tracing::debug_span!("checkout", key = ?key);
    let waiting = async move {
        let Pending {
            mut acquired,
            deadline: wait,
        } = pending;
        loop {
            // A connection taken or handed over, counted as a reuse.
            let (conn, slot, times) = match acquired {
                Acquire::Closed => return Err(Error::Closed),
                Acquire::Idle(conn, slot, times) => (conn, slot, times),
                Acquire::Connect(slot) => {
                    return connect(&shared, wait, connector, key, slot).await;
                }
                Acquire::Wait(waiter, _) => {
                    tracing::debug!("waiting for a connection of this key");
                    // The reaper ends the wait at the deadline: no timer of
                    // its own per waiting checkout.
                    match waiter.await {
                        None if shared.is_closed() => return Err(Error::Closed),
                        None => {
                            return Err(wait.timed_out(&shared, &key, WaitingFor::Connection));
                        }
                        Some(Handoff::Slot(slot)) => {
                            return connect(&shared, wait, connector, key, slot).await;
                        }
                        // Just checked in: it has not been idle at all.
                        Some(Handoff::Conn(conn, slot)) => (conn, slot, IdleTimes::default()),
                    }
                }
            };
            match shared.lend_idle(conn, slot, times) {
                Some(pooled) => return Ok(pooled),
                None => acquired = shared.acquire(&key, true, Some(wait)),
            }
        }
    };
    // Entering and leaving a span nobody listens to, at every poll, costs
    // more than the rest of a waiting checkout's poll.
    if span.is_disabled() {
        waiting.await
    } else {
        waiting.instrument(span).await
    }
}

/// Makes a new connection in `slot`, after the port budget allows it.
async fn connect<K, C, S>(
    shared: &Arc<Shared<K, C>>,
    wait: Deadline,
    connector: S,
    key: K,
    mut slot: Slot<K, C>,
) -> Result<Pooled<K, C>, Error>
where
    K: Key,
    C: Connection,
    S: Service<K, Response = C> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    wait.within(
        shared,
        &key,
        WaitingFor::Ports,
        wait_for_ports(shared, &key),
    )
    .await??;
    debug_assert!(slot.is_connecting());
    let made = wait
        .within(
            shared,
            &key,
            WaitingFor::Connect,
            connector.oneshot(key.clone()),
        )
        .await?;
    let io = match made {
        Ok(io) => io,
        Err(error) => {
            shared.count(&key, |a| a.connect_errors += 1);
            let error = error.into();
            tracing::debug!(%error, "connect failed");
            return Err(map_connect_error(shared, &key, error));
        }
    };
    let destination = io.destination();
    shared.connected(&mut slot, destination);
    tracing::debug!(?destination, "connected");
    let conn = Conn {
        io,
        created: Instant::now(),
        uses: 0,
        destination: destination.map(Box::new),
    };
    Ok(Pooled::new(conn, slot, false, shared.config.ends()))
}

/// Waits, or fails, while the destination's ports are spent. The first wait
/// of an episode is logged as a warning that says what it waits for.
async fn wait_for_ports<K: Key, C: Connection>(
    shared: &Arc<Shared<K, C>>,
    key: &K,
) -> Result<(), Error> {
    let mut warned = false;
    loop {
        let now = Instant::now();
        let (admission, destination) = shared.admit(key, now);
        let until = match admission {
            Admission::Go => return Ok(()),
            Admission::WaitUntil(until) => Instant::from_std(until),
            _ => {
                return Err(Error::PortsExhausted {
                    destination,
                    retry_after: None,
                });
            }
        };
        if shared.config.on_exhausted == OnPortsExhausted::Fail {
            return Err(Error::PortsExhausted {
                destination,
                retry_after: Some(until.saturating_duration_since(now)),
            });
        }
        let wait = until.saturating_duration_since(now);
        if !warned {
            warned = true;
            shared.count(key, |a| a.budget_waits += 1);
            let in_time_wait = destination.map(|d| shared.ports_in_time_wait(&d, now));
            tracing::warn!(
                key = ?key,
                destination = ?destination,
                ports_in_time_wait = in_time_wait,
                usable_ports = shared.config.budget.usable_ports(),
                next_port_free_in = ?wait,
                "every ephemeral port toward this destination is in use or in TIME_WAIT: \
                 waiting for one to free (let the server close first to avoid this)"
            );
        }
        let span = tracing::debug_span!("budget_wait", key = ?key, ?destination, ?wait);
        async {
            tracing::debug!("ports spent; waiting for a TIME_WAIT entry to end");
            sleep_until(until).await;
        }
        .instrument(span)
        .await;
        // Counted once over; a wait the checkout timeout cuts short is
        // counted in `timeouts` instead.
        shared.count_budget_wait(key, until.saturating_duration_since(now));
    }
}

/// `EADDRNOTAVAIL` from `connect()` is the kernel saying the ports are spent:
/// the same condition as the budget's, with the same error. For a
/// [`ConnectError`] that is [`ConnectError::is_out_of_ports`] (the same errno
/// from `bind()` means a missing source address instead); for other
/// connectors, an `io::Error` with that errno anywhere in the chain.
fn map_connect_error<K: Key, C: Connection>(
    shared: &Shared<K, C>,
    key: &K,
    error: BoxError,
) -> Error {
    // A `ConnectError` anywhere in the chain (a connector wrapping
    // `TcpConnector`, as an HTTP or TLS connector does) says which call
    // failed; without one, the errno is all there is.
    let out_of_ports = match find_in_chain::<ConnectError>(&*error) {
        Some(connect) => connect.is_out_of_ports(),
        None => chain_has_errno(&*error, libc::EADDRNOTAVAIL),
    };
    if !out_of_ports {
        return Error::Connect(error);
    }
    let destination = shared.destination(key);
    let now = Instant::now();
    let retry_after = destination
        .and_then(|d| shared.next_release(&d, now))
        .map(|t| t.saturating_duration_since(now));
    Error::PortsExhausted {
        destination,
        retry_after,
    }
}

/// The first error of type `E` in `error`'s chain of sources.
fn find_in_chain<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

fn chain_has_errno(error: &(dyn std::error::Error + 'static), errno: i32) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            == Some(errno)
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] io::Error);

    #[test]
    fn a_connect_error_is_found_anywhere_in_a_chain() {
        // An HTTP connector's error wrapping the TCP connector's: a bind
        // that failed with EADDRNOTAVAIL is a missing source address, not
        // spent ports, whatever wraps it.
        #[derive(Debug, thiserror::Error)]
        #[error("http connect")]
        struct Http(#[source] ConnectError);
        let bind = ConnectError::Bind {
            ip: "192.0.2.7".parse().unwrap(),
            addr: "192.0.2.1:80".parse().unwrap(),
            source: io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        };
        let wrapped = Http(bind);
        let found = find_in_chain::<ConnectError>(&wrapped).unwrap();
        assert!(!found.is_out_of_ports());
        assert!(chain_has_errno(&wrapped, libc::EADDRNOTAVAIL));
    }

    #[test]
    fn eaddrnotavail_is_found_anywhere_in_a_chain() {
        let wrapped = Wrapped(io::Error::from_raw_os_error(libc::EADDRNOTAVAIL));
        assert!(chain_has_errno(&wrapped, libc::EADDRNOTAVAIL));
        let other = Wrapped(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(!chain_has_errno(&other, libc::EADDRNOTAVAIL));
    }
}
