//! `timewait`: put TCP's TIME_WAIT where it is cheap.
//!
//! The side of a TCP connection that sends the first FIN holds the four-tuple in
//! TIME_WAIT for twice the maximum segment lifetime (60 s on Linux). On a client
//! that ties up one ephemeral port toward the destination per closed connection;
//! on a server it costs a little memory. This facade re-exports the workspace's
//! crates:
//!
//! - [`core`] (`timewait-core`): the TCP state machine of RFC 9293, a ledger of
//!   TIME_WAIT entries per destination, the ephemeral port budget, and on Linux
//!   a census of the kernel's sockets.
//! - [`pool`] (`timewait-pool`): a tower connection pool that reuses
//!   connections and, when it retires one, makes the server close first.
//! - [`http`] (`timewait-http`): an HTTP/1.1 client over that pool, a
//!   `tower::Service` whose retired connections the server closes
//!   (`Connection: close` on a last use, the server's `Keep-Alive` hints
//!   honoured); `https` with the feature `tls`.
//!
//! ```
//! use timewait::core::TcpState;
//!
//! let state: TcpState = "time-wait".parse()?;
//! assert_eq!(state.to_string(), "TIME_WAIT");
//! # Ok::<(), timewait::core::state::ParseStateError>(())
//! ```

pub use timewait_core as core;
pub use timewait_http as http;
pub use timewait_pool as pool;

/// The README's examples, compiled as doctests so that they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
