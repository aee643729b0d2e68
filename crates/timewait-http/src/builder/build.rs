//! [`Builder::build`]: the client's settings checked, and the pool made.

use std::time::Duration;

use timewait_pool::{ConfigError, Pool, TcpConnector, TcpKeepalive};

use super::Builder;
use crate::client::{Client, Shared};
use crate::connection::Hints;
use crate::connector::HttpConnector;
use crate::farewell::CloseIdle;

/// A configuration [`Builder::build`] refused, and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The pool refused its part.
    #[error(transparent)]
    Pool(#[from] ConfigError),
    /// The keep-alive margin is not below the grace period: waiting for a
    /// server's idle close would run out first.
    #[error(
        "keep_alive_margin {margin:?} is not below close_grace {grace:?}: raise the grace or lower the margin"
    )]
    MarginNotBelowGrace {
        /// The margin.
        margin: Duration,
        /// The grace.
        grace: Duration,
    },
}

impl Builder {
    /// Checks the configuration and makes the client.
    ///
    /// # Errors
    ///
    /// A limit or duration of zero, a margin not below the grace, and what
    /// else the pool refuses, each saying what to change.
    pub fn build(self) -> Result<Client, BuildError> {
        if self.margin >= self.grace {
            return Err(BuildError::MarginNotBelowGrace {
                margin: self.margin,
                grace: self.grace,
            });
        }
        let keepalive = self
            .keepalive
            .map(|idle| TcpKeepalive::new().with_time(idle));
        let tcp = TcpConnector::new()
            .nodelay(self.nodelay)
            .keepalive(keepalive)
            .user_timeout(self.user_timeout)
            .connect_timeout(self.connect_timeout)
            .bind_ip(self.local_address)
            .local_port_range(self.local_port_range);
        let hints = Hints {
            server_timeout: self.server_timeout,
            margin: self.margin,
        };
        let connector = HttpConnector::new(tcp, hints);
        #[cfg(feature = "tls")]
        let connector = match self.tls {
            Some(config) => connector.with_tls(crate::tls::TlsConnector::new(config)),
            None => connector,
        };
        let mut pool = Pool::builder(connector)
            .idle_timeout(self.idle_timeout)
            .max_idle_per_key(self.max_idle)
            .max_open_per_key(self.max_open)
            .max_total(self.max_open.max(1024))
            .max_uses(self.max_uses)
            .max_lifetime(self.max_lifetime)
            .close_policy(self.policy)
            .fallback(self.fallback)
            .grace(self.grace)
            .checkout_timeout(self.checkout_timeout)
            .on_ports_exhausted(self.on_exhausted)
            .farewell(CloseIdle { grace: self.grace });
        if let Some(budget) = self.port_budget {
            pool = pool.port_budget(budget);
        }
        Ok(Client::from_shared(Shared {
            pool: pool.build()?,
            set_host: self.set_host,
            keep_alive_token: self.keep_alive_token,
            retry: self.retry,
            drain: self.drain,
        }))
    }
}
