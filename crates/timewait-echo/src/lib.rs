//! The line echo protocol that `timewait`'s examples, tests and benches
//! share: a server that closes first, so TIME_WAIT lands on it, and the
//! client side of one exchange.
//!
//! The protocol: the client sends a line ending in `\n`; the server sends the
//! same line back. The line `QUIT` asks the server to close the connection,
//! which it does at once, sending the first FIN: the client then reads the
//! server's FIN and closes its side, a passive close with no TIME_WAIT on the
//! client. A server also closes connections that stay idle past its idle
//! timeout (30 s by default), again first.
//!
//! Beside the protocol: [`fresh_listener`] binds a port no other socket
//! mentions, and [`settled_time_wait`] asks the kernel how many TIME_WAIT
//! entries a server's connections left on each side, so a test or a demo can
//! show where TIME_WAIT landed. On Linux, [`netns`] makes network
//! namespaces for the tests and benches that need one of their own.
//!
//! ```
//! use timewait_echo::{EchoServer, exchange};
//! use tokio::net::TcpStream;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! let server = EchoServer::bind("127.0.0.1:0".parse().unwrap()).await?.spawn();
//! let mut conn = TcpStream::connect(server.local_addr()).await?;
//! let mut reply = Vec::new();
//! exchange(&mut conn, b"hello\n", &mut reply).await?;
//! assert_eq!(reply, b"hello\n");
//! let stats = server.shutdown().await;
//! assert_eq!(stats.lines, 1);
//! # Ok(()) }
//! ```

// Library code never unwraps what a user, a peer or the kernel controls;
// tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod client;
#[cfg(target_os = "linux")]
pub mod netns;
mod port;
mod server;
mod stats;
#[cfg(target_os = "linux")]
mod witness;

pub use client::{QUIT, connect_and_exchange, exchange, quit_and_wait_for_close};
pub use port::fresh_listener;
pub use server::{DEFAULT_IDLE_TIMEOUT, EchoHandle, EchoServer, MAX_LINE, OnQuit};
pub use stats::{EchoStats, Ending};
#[cfg(target_os = "linux")]
pub use witness::{TimeWaitSides, settled_time_wait, time_wait_sides};
