//! Where the run's TIME_WAIT entries are, with the kernel's census as the
//! witness.
//!
//! Only this run's connections are counted: the census entries whose
//! four-tuple is one the run used, seen from either end. Client-side entries
//! (local = a client address) can always be counted; server-side ones (local
//! = the server's address) only when the server runs in this network
//! namespace, which shows as its listening socket in the census.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

/// A connection's two ends: `(client, server)`.
pub(crate) type FourTuple = (SocketAddr, SocketAddr);

/// How many TIME_WAIT entries each side holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Entries held by this client.
    pub(crate) client: usize,
    /// Entries held by the server; `None` when the server is not local.
    pub(crate) server: Option<usize>,
    /// Whether every socket of the run had finished closing when counted.
    pub(crate) settled: bool,
}

/// Waits, up to `bound`, until every socket of `connections` (toward
/// `server_port`) is in TIME_WAIT or gone (the kernel closes asynchronously:
/// a socket still in FIN_WAIT or LAST_ACK could yet add an entry), then
/// counts the TIME_WAIT entries on each side. When `bound` runs out it counts
/// anyway and says so.
#[cfg(target_os = "linux")]
pub(crate) async fn settled(
    server_port: u16,
    connections: &HashSet<FourTuple>,
    bound: Duration,
) -> Result<Placement, timewait::core::sys::CensusError> {
    use timewait::core::TcpState;
    use timewait::core::sys::{Census, SocketEntry};

    /// An IPv4-mapped IPv6 address as its IPv4 form, so that a dual-stack
    /// listener's sockets compare equal to the address the client used.
    fn canonical(addr: SocketAddr) -> SocketAddr {
        SocketAddr::new(addr.ip().to_canonical(), addr.port())
    }

    let ours: HashSet<FourTuple> = connections
        .iter()
        .map(|&(client, server)| (canonical(client), canonical(server)))
        .collect();
    let servers: HashSet<SocketAddr> = ours.iter().map(|&(_, server)| server).collect();
    let client_side = |e: &SocketEntry| ours.contains(&(canonical(e.local), canonical(e.remote)));
    let server_side = |e: &SocketEntry| ours.contains(&(canonical(e.remote), canonical(e.local)));
    let census = Census::new().port(server_port);
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let entries = census.list()?;
        let run: Vec<&SocketEntry> = entries
            .iter()
            .filter(|e| client_side(e) || server_side(e))
            .collect();
        let settled = run
            .iter()
            .all(|e| e.tcp_state() == Some(TcpState::TimeWait));
        if settled || tokio::time::Instant::now() >= deadline {
            let time_wait = |side: &dyn Fn(&SocketEntry) -> bool| {
                run.iter()
                    .filter(|e| e.tcp_state() == Some(TcpState::TimeWait) && side(e))
                    .count()
            };
            let listening = entries.iter().any(|e| {
                e.tcp_state() == Some(TcpState::Listen)
                    && e.local.port() == server_port
                    && (e.local.ip().is_unspecified()
                        || servers.iter().any(|s| s.ip() == canonical(e.local).ip()))
            });
            return Ok(Placement {
                client: time_wait(&client_side),
                server: listening.then(|| time_wait(&server_side)),
                settled,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Without the Linux census nothing can be counted.
#[cfg(not(target_os = "linux"))]
pub(crate) async fn settled(
    _server_port: u16,
    _connections: &HashSet<FourTuple>,
    _bound: Duration,
) -> Result<Placement, std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the census reads the Linux kernel: run on Linux to count TIME_WAIT",
    ))
}
