//! Real servers from Debian's packages, started on loopback for timewait's
//! tests, and minimal codecs for their protocols.
//!
//! [`Redis`], [`Memcached`], [`Postgres`] and [`Nginx`] each start their
//! server on `127.0.0.1` and a port no other socket mentions (so the
//! kernel's census of TIME_WAIT by that port counts only their
//! connections, see [`timewait_echo::settled_time_wait`]), in a temporary
//! directory of their own that holds every file they write. They are
//! started and stopped by the test, never by the system's service manager.
//! Each waits, within a bound, until the server answers a request through
//! its protocol; the probe's connection leaves no TIME_WAIT on either side.
//! Each can be stopped gracefully, killed with SIGKILL and restarted on the
//! same port, and is stopped on drop.
//!
//! A server that is not installed is a [`ServerError::MissingBinary`] that
//! says which package to install: a test that needs one fails with that
//! reason.
//!
//! The [`codec`] module has the client side of RESP2, memcached's text
//! protocol and PostgreSQL's protocol 3.0, for
//! [`tokio_util::codec::Framed`].
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use timewait_servers::codec::{Resp, RespCommand, RespValue};
//! use timewait_servers::{Redis, RedisConfig};
//! use tokio_util::codec::Framed;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = Redis::start(RedisConfig::default()).await?;
//! let conn = tokio::net::TcpStream::connect(redis.addr()).await?;
//! let mut framed = Framed::new(conn, Resp::default());
//! framed.send(RespCommand::new(["PING"])).await?;
//! assert_eq!(framed.next().await.transpose()?, Some(RespValue::Simple("PONG".into())));
//! // The farewell: the server answers, then closes first.
//! framed.send(RespCommand::new(["QUIT"])).await?;
//! assert_eq!(framed.next().await.transpose()?, Some(RespValue::Simple("OK".into())));
//! assert!(framed.next().await.is_none());
//! # Ok(()) }
//! ```

// Library code never unwraps what a server or the kernel controls; tests
// may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod binary;
pub mod codec;
mod error;
mod memcached;
mod nginx;
mod postgres;
mod probe;
mod process;
mod ready;
mod redis;
mod supervisor;
mod tree;
mod workdir;

pub use error::ServerError;
pub use memcached::{Memcached, MemcachedConfig};
pub use nginx::{NGINX_BODY, Nginx, NginxConfig};
pub use postgres::{POSTGRES_USER, Postgres, PostgresConfig};
pub use redis::{Redis, RedisConfig};
