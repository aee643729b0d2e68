//! `timewait-http`: an HTTP/1.1 client whose connections the server closes.
//!
//! A [`Client`] keeps connections alive per [`Origin`] in a `timewait` pool
//! and, whenever it retires one, makes the server send the first FIN, so
//! that the TIME_WAIT entry (60 s on Linux, one ephemeral port toward that
//! server) lands on the server and never on the client.
//!
//! ```
//! use http_body_util::BodyExt;
//! use std::time::Duration;
//! use timewait_http::Client;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let addr = doc_server::start().await;
//! let client = Client::builder().max_uses_per_connection(100).build()?;
//! let response = client.get(format!("http://{addr}/hello")).await?;
//! assert!(response.status().is_success());
//! let body = response.into_body().collect().await?.to_bytes(); // the connection goes back here
//! assert_eq!(&body[..], b"hello\n");
//!
//! let report = client.shutdown(Duration::from_secs(5)).await; // `OPTIONS *` with `Connection: close`
//! assert_eq!(report.retired.local, 0); // the server closed every connection first
//! # Ok(()) }
//! # mod doc_server {
//! #     use std::net::SocketAddr;
//! #     pub async fn start() -> SocketAddr {
//! #         let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #         let addr = listener.local_addr().unwrap();
//! #         tokio::spawn(async move {
//! #             while let Ok((stream, _)) = listener.accept().await {
//! #                 tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
//! #                     hyper_util::rt::TokioIo::new(stream),
//! #                     hyper::service::service_fn(|_| async {
//! #                         Ok::<_, std::convert::Infallible>(hyper::Response::new(
//! #                             http_body_util::Full::new(bytes::Bytes::from("hello\n")),
//! #                         ))
//! #                     }),
//! #                 ));
//! #             }
//! #         });
//! #         addr
//! #     }
//! # }
//! ```
//!
//! From hyper-util's legacy client (what reqwest uses) the switch is two
//! lines: `Client::builder(TokioExecutor::new()).build_http()` becomes
//! [`Client::new()`] (or [`Client::builder()`]`.build()?`), and bodies are
//! anything `Into<`[`Body`]`>`.
//!
//! # At a connection's end
//!
//! - **Last use.** When a connection's use is up (its
//!   [`max_uses_per_connection`](Builder::max_uses_per_connection), its
//!   [`max_connection_lifetime`](Builder::max_connection_lifetime), the
//!   server's `Keep-Alive: max`), its request carries `Connection: close`
//!   (RFC 9112 §9.6). hyper's connection runs without shutdown, so no FIN
//!   goes out when the response is in; the pool reads until the server's FIN
//!   and only then closes: a passive close.
//! - **Idle retirement** (a limit, eviction, [`Client::shutdown`]): when the
//!   server announced `Keep-Alive: timeout=N` and that close comes within the
//!   grace period, the pool waits for it; otherwise it sends
//!   `OPTIONS *` with `Connection: close` and the origin's `Host` (RFC 9110
//!   §9.3.7: it addresses the server, no resource), and reads until the
//!   server's FIN. Servers answer it differently (nginx with a `400`, then
//!   it closes): either way the server closes first.
//! - **The server's hints.** A response's `Connection: close` ends the
//!   connection's use. `Keep-Alive: timeout=N, max=M` gives the connection
//!   its own idle deadline, N less
//!   [`keep_alive_margin`](Builder::keep_alive_margin) (1 s), so no request
//!   races the server's close, and M remaining uses.
//! - **A broken exchange** (an error, a body dropped and too long to drain)
//!   cannot be told to close: the pool looks once at the socket (a passive
//!   close if the server's FIN is in) and otherwise closes under its
//!   fallback, from this side.
//!
//! # The lease follows the body
//!
//! A connection goes back to the pool when its [`ResponseBody`] has been
//! read to its end, not when the `Response` is dropped; until then no other
//! request is sent on it (they take or make another connection). A body
//! dropped unread is drained in the background, bounded
//! ([`Builder::drain_unread`]), then the connection is reused; past the
//! bound it is retired.
//!
//! # Retries
//!
//! A request is sent again, once, on another connection, only when it
//! failed on a *reused* connection and the server cannot have acted on it:
//! none of it was written (hyper gave it back), or it is idempotent (GET,
//! HEAD, OPTIONS, TRACE, PUT, DELETE, or it carries `Idempotency-Key`) and
//! the connection closed before any byte of the response arrived, the
//! keep-alive race. The second case needs the request again, so only a
//! [`Body`] held in full (bytes, strings, `Full`, `Empty`) is replayed; a
//! streamed body is not. Nothing else is ever retried, and
//! [`retry_canceled_requests(false)`](Builder::retry_canceled_requests)
//! retries nothing.
//!
//! # TLS
//!
//! With the feature `tls`, `https://` origins go over rustls
//! (`Builder::tls` takes a `rustls::ClientConfig`: the roots are yours),
//! ALPN `http/1.1`. The server-first close holds: the client reads the
//! server's close_notify and FIN before closing, and never writes a
//! close_notify itself.
//!
//! # HTTP/2
//!
//! Out of scope: with HTTP/2 the server's `GOAWAY` already lets the server
//! close first; use hyper's HTTP/2 client for it.

// Library code never unwraps what a user, a peer or the kernel controls.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod body;
mod builder;
mod client;
mod connection;
mod connector;
mod error;
mod farewell;
mod info;
mod io;
mod keep_alive;
mod origin;
mod response;
mod retry;
mod send;
#[cfg(feature = "tls")]
mod tls;

pub use body::Body;
pub use builder::{BuildError, Builder};
pub use client::{Client, HttpPool, ResponseFuture};
pub use connection::HttpConnection;
pub use connector::{ConnectError, HttpConnector};
pub use error::{Error, ErrorKind};
pub use info::ConnectionInfo;
pub use keep_alive::KeepAlive;
pub use origin::Origin;
pub use response::ResponseBody;

/// The pool's types that appear in this crate's API.
pub use timewait_pool::{
    ClosePolicy, Fallback, OnPortsExhausted, PoolStats, PortBudget, PortRange, ShutdownReport,
};
