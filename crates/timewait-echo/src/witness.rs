//! The kernel as witness: how many TIME_WAIT entries a server's connections
//! left, on the server's side and on its clients' side.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use timewait_core::TcpState;
use timewait_core::sys::{Census, SocketEntry};

/// How often [`settled_time_wait`] asks the kernel again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// TIME_WAIT entries of one server's connections, by the side that holds
/// them, as the kernel's socket table shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWaitSides {
    /// Entries whose local address is the server's: the server closed first.
    pub server: usize,
    /// Entries whose remote address is the server's: a client closed first.
    pub client: usize,
}

/// Counts the TIME_WAIT entries of `server`'s connections now.
///
/// Only meaningful when no other server used `server`'s port in the last
/// minute (see [`fresh_listener`](crate::fresh_listener)), and only for
/// clients in this network namespace (a remote client's entries are in its
/// own kernel).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap()).await?;
/// let sides = timewait_echo::time_wait_sides(listener.local_addr()?)?;
/// assert_eq!(sides, timewait_echo::TimeWaitSides::default());
/// # Ok(()) }
/// ```
pub fn time_wait_sides(server: SocketAddr) -> io::Result<TimeWaitSides> {
    let entries = Census::time_wait()
        .port(server.port())
        .list()
        .map_err(io::Error::other)?;
    Ok(sides_of(server, &entries))
}

/// Waits, up to `within`, until every socket of `server`'s connections is in
/// TIME_WAIT or gone (the kernel finishes closes asynchronously: a socket
/// still in FIN_WAIT or LAST_ACK could yet add an entry), then counts them.
/// From then on the counts can only fall, after 2×MSL.
///
/// An error of kind `TimedOut` names the sockets still closing.
pub async fn settled_time_wait(server: SocketAddr, within: Duration) -> io::Result<TimeWaitSides> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let entries = Census::new()
            .port(server.port())
            .list()
            .map_err(io::Error::other)?;
        let closing: Vec<&SocketEntry> = entries
            .iter()
            .filter(|e| of_connection(server, e) && e.tcp_state() != Some(TcpState::TimeWait))
            .collect();
        if closing.is_empty() {
            return Ok(sides_of(server, &entries));
        }
        if tokio::time::Instant::now() >= deadline {
            let states: Vec<String> = closing
                .iter()
                .take(5)
                .map(|e| format!("{} -> {} {:?}", e.local, e.remote, e.state))
                .collect();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} connections of {server} still closing after {within:?}, e.g. {}",
                    closing.len(),
                    states.join(", ")
                ),
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Whether `entry` is one end of a connection to `server` (not its listener).
fn of_connection(server: SocketAddr, entry: &SocketEntry) -> bool {
    (entry.local == server && entry.tcp_state() != Some(TcpState::Listen)) || entry.remote == server
}

fn sides_of(server: SocketAddr, entries: &[SocketEntry]) -> TimeWaitSides {
    let time_wait = entries
        .iter()
        .filter(|e| e.tcp_state() == Some(TcpState::TimeWait));
    let mut sides = TimeWaitSides::default();
    for entry in time_wait {
        if entry.local == server {
            sides.server += 1;
        } else if entry.remote == server {
            sides.client += 1;
        }
    }
    sides
}
