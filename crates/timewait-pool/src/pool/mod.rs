//! The pool: a `tower::Service` from keys to checked-out connections.

mod checkin;
mod checkout;
pub(crate) mod reaper;
mod recency;
pub(crate) mod shared;
mod shutdown;
pub(crate) mod slot;
pub(crate) mod state;
mod waiter;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;
use tower::Service;

use crate::config::{PoolBuilder, PoolConfig};
use crate::connection::Connection;
use crate::error::{BoxError, Error};
use crate::key::Key;
use crate::stats::PoolStats;

pub use checkout::Checkout;
pub use shutdown::ShutdownReport;

use shared::Shared;

/// A pool of connections per key, behind a [`tower::Service`].
///
/// `call(key)` resolves to a [`Pooled`](crate::Pooled) guard holding a
/// connection made for `key`: an idle one if a healthy one is there (the most
/// recently used first), else a new one from the connector, within the key's
/// limit and the destination's port budget. Dropping the guard gives the
/// connection back, and when the pool retires a connection it closes it under
/// its [`ClosePolicy`](crate::ClosePolicy): by default it makes the peer close
/// first, so that TIME_WAIT lands on the peer.
///
/// # Readiness
///
/// A pool keyed by destination cannot know, in `poll_ready`, whether the next
/// call will find an idle connection, wait for its key's limit, or connect:
/// that depends on a key it has not been given yet. So `poll_ready` applies
/// only the pool-wide bound: it reserves one of
/// [`max_total`](crate::PoolBuilder::max_total) permits (first come, first
/// served), which the guard holds until it is dropped. Per-key limits and the
/// port budget are waited for in the returned future, where the key is known;
/// the connector's own readiness too (each connect drives a clone of it
/// through `poll_ready` and `call`).
///
/// Each clone of a pool shares its connections, but not its readiness: a
/// clone starts without a permit and must be polled ready itself.
///
/// # Background work
///
/// On its first checkout inside a tokio runtime the pool starts two tasks: a
/// reaper that retires idle connections at their deadline, and a worker that
/// carries out retirements that wait for the peer. Both end when the last
/// clone of the pool is dropped; the worker first finishes what it holds,
/// each retirement bounded by the grace period.
pub struct Pool<K: Key, S, C: Connection> {
    shared: Arc<Shared<K, C>>,
    connector: S,
    semaphore: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
}

impl<K: Key, S, C: Connection> Pool<K, S, C> {
    /// A pool over `connector`, with a configuration from [`PoolBuilder`].
    pub fn new(config: PoolConfig<K, C>, connector: S) -> Self {
        let permits = config.limits.max_total.min(Semaphore::MAX_PERMITS);
        Pool {
            shared: Shared::new(config),
            connector,
            semaphore: PollSemaphore::new(Arc::new(Semaphore::new(permits))),
            permit: None,
        }
    }

    /// A builder with the defaults.
    pub fn builder() -> PoolBuilder<K, C> {
        PoolBuilder::new()
    }

    /// A snapshot of what the pool holds and has done, per key and in total.
    pub fn stats(&self) -> PoolStats<K> {
        self.shared.stats()
    }

    /// The configuration the pool runs with.
    pub fn config(&self) -> &PoolConfig<K, C> {
        &self.shared.config
    }

    /// Stops lending, retires every idle connection under its policy, and
    /// waits up to `deadline` for lent connections to come back (they are
    /// retired as they do) and for retirements to finish.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        shutdown::run(&self.shared, deadline).await
    }
}

impl<K, S, C> Service<K> for Pool<K, S, C>
where
    K: Key,
    C: Connection,
    S: Service<K, Response = C> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = crate::Pooled<K, C>;
    type Error = Error;
    type Future = Checkout<K, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.shared.is_closed() {
            return Poll::Ready(Err(Error::Closed));
        }
        if self.permit.is_none() {
            match self.semaphore.poll_acquire(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(permit)) => self.permit = Some(permit),
                Poll::Ready(None) => return Poll::Ready(Err(Error::Closed)),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: K) -> Self::Future {
        let Some(permit) = self.permit.take() else {
            return Checkout::ready(Err(Error::NotReady));
        };
        self.shared.start_background();
        match self.shared.checkout_now(&key, Some(permit)) {
            Ok(pooled) => Checkout::ready(Ok(pooled)),
            Err(pending) => Checkout::waiting(checkout::checkout(
                self.shared.clone(),
                self.connector.clone(),
                key,
                pending,
            )),
        }
    }
}

impl<K: Key, S: Clone, C: Connection> Clone for Pool<K, S, C> {
    /// Shares the connections; does not share readiness (see the type's
    /// docs).
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
            connector: self.connector.clone(),
            semaphore: self.semaphore.clone(),
            permit: None,
        }
    }
}

impl<K: Key, S: fmt::Debug, C: Connection> fmt::Debug for Pool<K, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("connector", &self.connector)
            .field("config", &self.shared.config)
            .field("ready", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
