//! The pool: a `tower::Service` from keys to checked-out connections.

mod acquire;
pub(crate) mod checkin;
mod checkout;
mod connect;
mod deadline;
pub(crate) mod reaper;
mod retirement;
pub(crate) mod shared;
mod shutdown;
pub(crate) mod slot;
pub(crate) mod state;
mod waiter;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::Service;

use crate::config::{ConfigError, PoolBuilder, PoolConfig, WithConnector};
use crate::connection::Connection;
use crate::error::{BoxError, Error};
use crate::key::Key;
use crate::stats::PoolStats;

pub use checkout::Checkout;
pub use shutdown::ShutdownReport;

use connect::Prototype;
use shared::Shared;

/// A pool of connections per key, behind a [`tower::Service`].
///
/// [`get(key)`](Pool::get) (or `call(key)`) resolves to a
/// [`Pooled`](crate::Pooled) lease on a connection made for `key`: an idle
/// one if a healthy one is there (the most recently used first), else a new
/// one from the connector, within the key's limit, the pool's total and the
/// destination's port budget. The borrower gives it back with
/// [`Pooled::release`](crate::Pooled::release) once its exchange is complete;
/// a lease dropped without a release is retired, never lent again. When the
/// pool retires a connection it closes it under its
/// [`ClosePolicy`](crate::ClosePolicy): by default it makes the peer close
/// first, so that TIME_WAIT lands on the peer.
///
/// ```
/// use std::time::Duration;
/// use timewait_pool::{FarewellMessage, Pool, TcpConnector};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
/// # let server = echo.local_addr();
/// let pool = Pool::builder(TcpConnector::new())
///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
///     .checkout_timeout(Duration::from_secs(5))
///     .build()?;
/// let conn = pool.get(server).await?;
/// conn.release(); // nothing was said: at rest, back to the idle set
/// assert!(pool.get(server).await?.is_reused());
/// # Ok(()) }
/// ```
///
/// # Readiness
///
/// A pool keyed by destination cannot know, in `poll_ready`, whether the next
/// call will find an idle connection, wait for its key's limit, or connect:
/// that depends on a key it has not been given yet (hyper-util's pool faces
/// the same question). So `poll_ready` only says whether the pool is open,
/// and every wait happens in the returned future, where the key is known:
/// for the key's limit ([`max_open_per_key`](crate::PoolBuilder::max_open_per_key)),
/// for room under the pool's total ([`max_total`](crate::PoolBuilder::max_total),
/// which counts open connections, never waiting checkouts), for the port
/// budget, and for the connector. A checkout waiting for one key holds
/// nothing that another key needs, and
/// [`checkout_timeout`](crate::PoolBuilder::checkout_timeout) bounds the
/// whole wait with [`Error::Timeout`].
///
/// Clones share their connections; since readiness reserves nothing, a
/// clone needs no `poll_ready` of its own, and [`Pool::get`] can be called
/// through a shared reference.
///
/// # Background work
///
/// On its first checkout inside a tokio runtime the pool starts two tasks: a
/// reaper that retires idle connections at their deadline, and a worker that
/// carries out retirements that wait for the peer (the reaper also ends
/// the waits of checkouts past their timeout). Both end when the last clone
/// of the pool is dropped; the worker first finishes what it holds, each
/// retirement bounded by the grace period. A pool that outlives the runtime
/// its tasks ran on starts them again on its next checkout (retirements the
/// old worker held when its runtime shut down are dropped with it: their
/// sockets close, uncounted).
pub struct Pool<K: Key, S, C: Connection> {
    shared: Arc<Shared<K, C>>,
    connector: S,
}

impl<K: Key, S, C: Connection> Pool<K, S, C> {
    /// A pool over `connector`, with a configuration from
    /// [`PoolBuilder::build`]. [`Pool::builder`] builds both at once.
    pub fn new(config: PoolConfig<K, C>, connector: S) -> Self {
        Pool {
            shared: Shared::new(config),
            connector,
        }
    }

    /// A builder with the defaults, for a pool over `connector`; the
    /// connection type is the connector's.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use timewait_pool::{ClosePolicy, Pool, TcpConnector};
    ///
    /// let pool = Pool::builder(TcpConnector::new())
    ///     .close_policy(ClosePolicy::Local)
    ///     .max_idle_per_key(8)
    ///     .build()?;
    /// # let _: &Pool<SocketAddr, _, _> = &pool;
    /// # Ok::<(), timewait_pool::ConfigError>(())
    /// ```
    pub fn builder(connector: S) -> PoolBuilder<K, C, WithConnector<S>>
    where
        S: Service<K, Response = C>,
    {
        PoolBuilder::new().connector(connector)
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

impl<K, S, C> Pool<K, S, C>
where
    K: Key,
    C: Connection,
    S: Service<K, Response = C> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    /// Checks out a connection for `key`: the same as `call(key)` on the
    /// [`Service`], without the readiness step (the pool reserves nothing
    /// in `poll_ready`).
    pub fn get(&self, key: K) -> Checkout<K, C> {
        if self.shared.is_closed() {
            return Checkout::ready(Err(Error::Closed));
        }
        self.shared.start_background();
        match self.shared.checkout_now(&key) {
            Ok(pooled) => Checkout::ready(Ok(pooled)),
            Err(pending) => {
                // Kept once per pool, for every checkout that connects.
                self.shared
                    .keep_connector(|| Box::new(Prototype::new(self.connector.clone())));
                Checkout::pending(self.shared.clone(), key, pending)
            }
        }
    }
}

// Here rather than beside the builder: the configuration knows nothing of
// the pool it configures.
impl<K: Key, C: Connection, S> PoolBuilder<K, C, WithConnector<S>> {
    /// Checks the configuration, reads from the kernel what was not given,
    /// and makes the pool.
    pub fn build(self) -> Result<Pool<K, S, C>, ConfigError> {
        let (config, WithConnector(connector)) = self.validate()?;
        Ok(Pool::new(config, connector))
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

    /// Ready while the pool is open: the waits happen in the checkout (see
    /// [Readiness](Pool#readiness)).
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.shared.is_closed() {
            return Poll::Ready(Err(Error::Closed));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: K) -> Self::Future {
        self.get(key)
    }
}

impl<K: Key, S: Clone, C: Connection> Clone for Pool<K, S, C> {
    /// Shares the connections.
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
            connector: self.connector.clone(),
        }
    }
}

impl<K: Key, S: fmt::Debug, C: Connection> fmt::Debug for Pool<K, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("connector", &self.connector)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
