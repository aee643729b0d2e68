//! Framed leases: a `tokio_util::codec` over a pooled connection that
//! releases itself at the message boundary.
//!
//! A [`FramedLease`] is a [`Pooled`](crate::Pooled) lease with a codec on
//! it, like a [`tokio_util::codec::Framed`] over the connection. It counts
//! the responses each request owes (one by default) and the responses
//! decoded; [`release`](FramedLease::release) hands the connection back to
//! the pool only when none is owed, no byte is left in its read buffer and
//! its write buffer is flushed. Otherwise, or when it is dropped, the
//! connection is retired, and the buffers go with the lease: no byte of one
//! borrower's exchange ever reaches the next.
//!
//! Requests may be pipelined (several sent before their answers are read)
//! when the protocol answers in order: Redis, memcached's text protocol and
//! PostgreSQL's simple queries do. A response made of several frames
//! (PostgreSQL's rows up to `ReadyForQuery`) is told apart by a
//! [`Boundary`].
//!
//! A [`FramedService`] is the same as a `tower::Service<Request>` for one
//! key: a lease per call, for protocols that answer with one frame.
//!
//! Needs the `codec` feature.
//!
//! ```
//! use timewait_pool::framed::Release;
//! use timewait_pool::{FarewellMessage, Pool, TcpConnector};
//! use tokio_util::codec::LinesCodec;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
//! # let server = echo.local_addr();
//! let pool = Pool::builder(TcpConnector::new())
//!     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
//!     .build()?;
//! // `server` is a line echo server.
//! let mut conn = pool.get(server).await?.framed(LinesCodec::new());
//! assert_eq!(conn.call("hello").await?, "hello");
//! // Pipelined: two requests out, their answers in order.
//! conn.feed("one").await?;
//! conn.feed("two").await?;
//! conn.flush().await?;
//! assert_eq!(conn.owed(), 2);
//! assert_eq!(conn.receive().await?, "one");
//! assert_eq!(conn.receive().await?, "two");
//! assert_eq!(conn.release(), Release::Returned);
//! # Ok(()) }
//! ```

mod boundary;
mod error;
mod io;
mod lease;
mod service;

pub use boundary::{Boundary, EveryFrame};
pub use error::{FramedError, Release, Unfinished};
pub use lease::FramedLease;
pub use service::FramedService;
