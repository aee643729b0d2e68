//! `timewait-pool`: a tower connection pool that reuses connections and, when
//! it must retire one, makes the server close first, so that TIME_WAIT stays
//! on the server.
//!
//! # The lease contract
//!
//! A checkout lends a connection as a [`Pooled`] lease. The borrower ends
//! it in one of three ways:
//!
//! - [`release()`](Pooled::release): the exchange is complete (no answer on
//!   its way, nothing left unread); the connection may be lent again;
//! - dropping it (an early `?`, a timeout, a response dropped unread): the
//!   connection is retired, never lent again, so no borrower ever reads bytes
//!   meant for another;
//! - [`detach()`](Pooled::detach): the connection leaves the pool for good.
//!
//! Only the protocol knows where an exchange ends, so the pool never guesses
//! it from the I/O it sees; what it sees can only retire more (a release
//! with a read still pending is overruled). Every way of doing I/O works:
//! through the lease, or through `&mut *lease` with a `BufReader`, `split` or
//! a codec.
//!
//! ```
//! use std::time::Duration;
//! use timewait_pool::{FarewellMessage, Pool, TcpConnector};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # // An echo server that closes a connection when it reads `QUIT`.
//! # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
//! # let server = echo.local_addr();
//! let pool = Pool::builder(TcpConnector::new())
//!     .farewell(FarewellMessage::new(&b"QUIT\n"[..])) // how this protocol asks the server to close
//!     .build()?;
//!
//! // `server` is an echo server on loopback that closes on `QUIT`.
//! let mut conn = pool.get(server).await?;
//! conn.write_all(b"hello\n").await?;
//! let mut line = String::new();
//! BufReader::new(&mut *conn).read_line(&mut line).await?;
//! assert_eq!(line, "hello\n");
//! conn.release(); // the exchange is complete: back to the pool
//!
//! let report = pool.shutdown(Duration::from_secs(5)).await;
//! assert_eq!(report.retired.by_peer, 1); // the server closed first
//! assert_eq!(report.retired.local, 0);
//! # let served = echo.shutdown().await;
//! # assert_eq!(served.closed_first_by_server(), 1);
//! # Ok(()) }
//! ```
//!
//! # Who closes
//!
//! The side of a TCP connection that sends the first FIN keeps the four-tuple
//! in TIME_WAIT for 2×MSL (60 s on Linux). On a client that ties up an
//! ephemeral port toward the destination; past about 470 new connections per
//! second to one destination, `connect()` fails with `EADDRNOTAVAIL`. This
//! pool retires connections under a [`ClosePolicy`]:
//! [`PeerFirst`](ClosePolicy::PeerFirst) by default, which tells the peer to
//! close (a [`Farewell`]) or waits for its idle close, reads until its FIN,
//! and only then closes: a passive close with no TIME_WAIT here. Every local
//! close that does happen is charged to the destination's port budget, and a
//! checkout waits (or fails with [`Error::PortsExhausted`]) instead of
//! running into `EADDRNOTAVAIL`.
//!
//! # Framed protocols
//!
//! With the `codec` feature, `Pooled::framed(codec)` puts a
//! `tokio_util::codec` on a lease: a `framed::FramedLease` that counts the
//! responses each request owes and releases the connection only at a
//! message boundary, with nothing left in its buffers. The
//! [`farewells`] module has the farewells of Redis, memcached, PostgreSQL,
//! SMTP, POP3 and IMAP, each saying what its server does on it.
//!
//! # As a tower service
//!
//! [`Pool`] is a `tower::Service<K>`, and [`PoolLayer`] puts one over a
//! connector in a `ServiceBuilder`; `poll_ready` reserves nothing (see
//! [Readiness](Pool#readiness)).

// Library code never unwraps what a user, a peer or the kernel controls;
// tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod book;
mod config;
mod conn;
mod connection;
pub mod connector;
mod error;
mod exchange;
mod farewell;
#[cfg(feature = "codec")]
pub mod framed;
mod guard;
mod key;
mod layer;
mod lock;
mod policy;
mod pool;
mod retire;
mod stats;
mod tcp;

pub use config::{ConfigError, NoConnector, PoolBuilder, PoolConfig, WithConnector};
pub use connection::{Connection, Health, PeerClose};
pub use connector::{ConnectError, Connecting, Target, TcpConnector, TcpKeepalive};
pub use error::{BoxError, Error, WaitingFor};
pub use farewell::protocols as farewells;
pub use farewell::{Farewell, FarewellFuture, FarewellMessage};
#[cfg(feature = "codec")]
pub use framed::FramedLease;
pub use guard::Pooled;
pub use key::Key;
pub use layer::PoolLayer;
pub use policy::{ClosePolicy, ClosedBy, Fallback, HealthCheck, OnPortsExhausted};
pub use pool::{Checkout, Pool, ShutdownReport};
pub use stats::{Activity, KeyStats, PoolStats, RetireReasons, Retired};

/// The types of `timewait-core` that appear in this crate's API, so that
/// configuring a pool or implementing [`Connection`] needs no second
/// dependency.
pub use timewait_core::{
    budget::{BudgetError, PortBudget, PortRange, PortRangeError, ReservedPorts, TwReuse},
    ledger::Destination,
};
