//! A checkout: reuse an idle connection, or wait for one, or make one within
//! the key's limit and the destination's port budget.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use timewait_core::budget::Admission;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};
use tower::{Service, ServiceExt};
use tracing::Instrument;

use crate::connection::Connection;
use crate::connector::ConnectError;
use crate::error::{BoxError, Error};
use crate::guard::Pooled;
use crate::key::Key;
use crate::policy::OnPortsExhausted;
use crate::pool::shared::{Acquire, Shared};
use crate::pool::slot::Slot;
use crate::pool::state::{Conn, Handoff};
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
            Inner::Ready(result) => {
                Poll::Ready(result.take().unwrap_or_else(|| Err(Error::NotReady)))
            }
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
    /// otherwise and gives the permit back for another try. Counts nothing:
    /// [`Shared::acquire`] counted the reuse already.
    pub(crate) fn lend_idle(
        self: &Arc<Self>,
        mut conn: Conn<C>,
        slot: Slot<K, C>,
        idle_deadline: Option<Instant>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Pooled<K, C>, Option<OwnedSemaphorePermit>> {
        // Plain idle deadlines are the reaper's (lending a connection a
        // moment past one harms nobody). Past a deadline set by the peer's
        // keep-alive, though, the server may be closing it right now, and a
        // reaper that runs late must not let it be lent. So the clock is read
        // only when a lifetime or such a deadline applies; a use count needs
        // none.
        let keep_alive_deadline = self.config.keep_alive.and(idle_deadline);
        let clock = self.config.max_lifetime.is_some() || keep_alive_deadline.is_some();
        let expired = self.used_up(&conn)
            || clock.then(Instant::now).is_some_and(|now| {
                self.too_old(&conn, now) || keep_alive_deadline.is_some_and(|d| d <= now)
            });
        let reason = if expired {
            Some(RetireReason::Expired)
        } else {
            RetireReason::from_health(conn.io.health())
        };
        if let Some(reason) = reason {
            self.retire(slot, conn, reason);
            return Err(permit);
        }
        tracing::trace!(key = ?slot.key(), uses = conn.uses, "reuse");
        Ok(Pooled::new(conn, slot, permit, true, self.config.ends()))
    }

    /// The synchronous part of a checkout: an idle connection of `key`, if a
    /// healthy one is there; else what the asynchronous part starts from
    /// (room to connect, or a place in the key's queue), taken in the same
    /// locked step.
    pub(crate) fn checkout_now(
        self: &Arc<Self>,
        key: &K,
        mut permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Pooled<K, C>, Pending<K, C>> {
        let mut refused = false;
        loop {
            match self.acquire(key, refused) {
                Acquire::Idle(conn, slot, deadline) => {
                    match self.lend_idle(conn, slot, deadline, permit) {
                        Ok(pooled) => return Ok(pooled),
                        Err(back) => {
                            permit = back;
                            refused = true;
                        }
                    }
                }
                acquired => return Err(Pending { permit, acquired }),
            }
        }
    }
}

/// Where a checkout that could not be served at once stands.
pub(crate) struct Pending<K: Key, C: Connection> {
    pub(crate) permit: Option<OwnedSemaphorePermit>,
    /// Never [`Acquire::Idle`]: room to connect, a place in the queue, or
    /// closed.
    pub(crate) acquired: Acquire<K, C>,
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
    async move {
        let Pending {
            mut permit,
            mut acquired,
        } = pending;
        loop {
            // A connection taken or handed over, counted as a reuse.
            let (conn, slot, deadline) = match acquired {
                Acquire::Closed => return Err(Error::Closed),
                Acquire::Idle(conn, slot, deadline) => (conn, slot, deadline),
                Acquire::Connect(slot) => {
                    return connect(&shared, connector, key, slot, permit).await;
                }
                Acquire::Wait(waiter) => {
                    tracing::debug!("waiting for a connection of this key");
                    match waiter.await {
                        None => return Err(Error::Closed),
                        Some(Handoff::Slot(slot)) => {
                            return connect(&shared, connector, key, slot, permit).await;
                        }
                        // Just checked in: no idle deadline has started.
                        Some(Handoff::Conn(conn, slot)) => (conn, slot, None),
                    }
                }
            };
            match shared.lend_idle(conn, slot, deadline, permit) {
                Ok(pooled) => return Ok(pooled),
                Err(back) => {
                    permit = back;
                    acquired = shared.acquire(&key, true);
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Makes a new connection in `slot`, after the port budget allows it.
async fn connect<K, C, S>(
    shared: &Arc<Shared<K, C>>,
    connector: S,
    key: K,
    mut slot: Slot<K, C>,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Pooled<K, C>, Error>
where
    K: Key,
    C: Connection,
    S: Service<K, Response = C> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    wait_for_ports(shared, &key).await?;
    debug_assert!(slot.is_connecting());
    let io = match connector.oneshot(key.clone()).await {
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
    Ok(Pooled::new(conn, slot, permit, false, shared.config.ends()))
}

/// Waits, or fails, while the destination's ports are spent.
async fn wait_for_ports<K: Key, C: Connection>(
    shared: &Arc<Shared<K, C>>,
    key: &K,
) -> Result<(), Error> {
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
        shared.count(key, |a| a.budget_waits += 1);
        let wait = until.saturating_duration_since(now);
        let span = tracing::debug_span!("budget_wait", key = ?key, ?destination, ?wait);
        async {
            tracing::debug!("ports spent; waiting for a TIME_WAIT entry to end");
            sleep_until(until).await;
        }
        .instrument(span)
        .await;
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
    let out_of_ports = match error.downcast_ref::<ConnectError>() {
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
    fn eaddrnotavail_is_found_anywhere_in_a_chain() {
        let wrapped = Wrapped(io::Error::from_raw_os_error(libc::EADDRNOTAVAIL));
        assert!(chain_has_errno(&wrapped, libc::EADDRNOTAVAIL));
        let other = Wrapped(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(!chain_has_errno(&other, libc::EADDRNOTAVAIL));
    }
}
