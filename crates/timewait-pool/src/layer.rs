//! The tower `Layer` that puts a pool over a connector.

use std::fmt;

use tower::Layer;

use crate::config::PoolConfig;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::Pool;

/// Builds a [`Pool`] over the service it wraps, which becomes the pool's
/// connector.
///
/// ```
/// use std::net::SocketAddr;
/// use timewait_pool::{FarewellMessage, PoolBuilder, PoolLayer, TcpConnector};
/// use tokio::net::TcpStream;
/// use tower::ServiceBuilder;
///
/// let config = PoolBuilder::<SocketAddr, TcpStream>::new()
///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
///     .build()?;
/// let pool = ServiceBuilder::new()
///     .layer(PoolLayer::new(config))
///     .service(TcpConnector::new());
/// assert_eq!(pool.stats().total.open, 0);
/// # Ok::<(), timewait_pool::ConfigError>(())
/// ```
pub struct PoolLayer<K, C> {
    config: PoolConfig<K, C>,
}

impl<K: Key, C: Connection> PoolLayer<K, C> {
    /// A layer making pools with this configuration. Each service it wraps
    /// gets a pool of its own.
    pub fn new(config: PoolConfig<K, C>) -> Self {
        PoolLayer { config }
    }
}

impl<K: Key, C: Connection, S> Layer<S> for PoolLayer<K, C> {
    type Service = Pool<K, S, C>;

    fn layer(&self, connector: S) -> Self::Service {
        Pool::new(self.config.clone(), connector)
    }
}

impl<K: Key, C> Clone for PoolLayer<K, C> {
    fn clone(&self) -> Self {
        PoolLayer {
            config: self.config.clone(),
        }
    }
}

impl<K: Key, C> fmt::Debug for PoolLayer<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolLayer")
            .field("config", &self.config)
            .finish()
    }
}
