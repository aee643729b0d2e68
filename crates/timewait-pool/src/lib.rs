//! `timewait-pool`: a tower connection pool that reuses connections and, when
//! it must retire one, makes the server close first, so that TIME_WAIT stays
//! on the server.
//!
//! The side of a TCP connection that sends the first FIN keeps the four-tuple
//! in TIME_WAIT for 2×MSL (60 s on Linux). On a client that ties up an
//! ephemeral port toward the destination; past about 470 new connections per
//! second to one destination, `connect()` fails with `EADDRNOTAVAIL`. This
//! pool reuses connections, and retires them under a [`ClosePolicy`]:
//! [`PeerFirst`](ClosePolicy::PeerFirst) by default, which tells the peer to
//! close (a [`Farewell`]) or waits for its idle close, reads until its FIN,
//! and only then closes: a passive close with no TIME_WAIT here. Every local
//! close that does happen is charged to the destination's port budget, and a
//! checkout waits (or fails with [`Error::PortsExhausted`]) instead of
//! running into `EADDRNOTAVAIL`.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use timewait_pool::{FarewellMessage, Pool, PoolLayer, TcpConnector};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//! use tokio::net::TcpStream;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # // An echo server that closes a connection when it reads `QUIT`.
//! # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
//! # let server: SocketAddr = echo.local_addr();
//! let config = Pool::<SocketAddr, TcpConnector, TcpStream>::builder()
//!     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
//!     .build()?;
//! let pool = ServiceBuilder::new()
//!     .layer(PoolLayer::new(config))
//!     .service(TcpConnector::new());
//!
//! // `server` is an echo server on loopback that closes on `QUIT`.
//! let mut conn = pool.clone().oneshot(server).await?;
//! conn.write_all(b"hello\n").await?;
//! let mut line = String::new();
//! // Read through the guard, so that it sees the answer come in.
//! BufReader::new(&mut conn).read_line(&mut line).await?;
//! assert_eq!(line, "hello\n");
//! drop(conn); // back to the pool
//!
//! let report = pool.shutdown(Duration::from_secs(5)).await;
//! assert_eq!(report.retired.by_peer, 1); // the server closed first
//! assert_eq!(report.retired.local, 0);
//! # let served = echo.shutdown().await;
//! # assert_eq!(served.closed_first_by_server(), 1);
//! # Ok(()) }
//! ```

// Library code never unwraps what a user, a peer or the kernel controls;
// tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod config;
mod connection;
pub mod connector;
mod error;
mod exchange;
mod farewell;
mod guard;
mod key;
mod layer;
mod lock;
mod policy;
mod pool;
mod retire;
mod stats;
mod tcp;

pub use config::{ConfigError, PoolBuilder, PoolConfig};
pub use connection::{Connection, Health, PeerClose};
pub use connector::{ConnectError, Connecting, Target, TcpConnector, TcpKeepalive};
pub use error::{BoxError, Error};
pub use farewell::{Farewell, FarewellFuture, FarewellMessage};
pub use guard::Pooled;
pub use key::Key;
pub use layer::PoolLayer;
pub use policy::{ClosePolicy, ClosedBy, Fallback, OnPortsExhausted};
pub use pool::{Checkout, Pool, ShutdownReport};
pub use stats::{Activity, KeyStats, PoolStats, Retired};
