//! Listeners on ports no other socket mentions, so that counting TIME_WAIT
//! by the port counts only this server's connections.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

/// How many ports to try before giving up.
const ATTEMPTS: usize = 20;

/// A listener on `ip` and a port the kernel picks, which no other socket in
/// this network namespace mentions, as local or remote port.
///
/// A port freed by an earlier listener stays the remote port of its clients'
/// TIME_WAIT entries for 60 s, and the kernel may hand it out again: a census
/// by that port would count those entries too. Ports in use that way are
/// kept bound while the next is tried, so the kernel does not offer them
/// again. Off Linux there is no census, and any free port is taken.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap()).await?;
/// assert_ne!(listener.local_addr()?.port(), 0);
/// # Ok(()) }
/// ```
pub async fn fresh_listener(ip: IpAddr) -> io::Result<TcpListener> {
    let mut skipped = Vec::new();
    for _ in 0..ATTEMPTS {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let others = others_on(addr)?;
        if others == 0 {
            return Ok(listener);
        }
        tracing::debug!(%addr, others, "port still mentioned by earlier sockets; trying another");
        skipped.push(listener);
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "every one of {ATTEMPTS} ports tried on {ip} is still mentioned by earlier sockets"
        ),
    ))
}

/// Sockets other than the listener at `addr` whose local or remote port is
/// `addr`'s.
#[cfg(target_os = "linux")]
fn others_on(addr: SocketAddr) -> io::Result<usize> {
    use timewait_core::TcpState;
    use timewait_core::sys::Census;

    let entries = Census::new()
        .port(addr.port())
        .list()
        .map_err(io::Error::other)?;
    Ok(entries
        .iter()
        .filter(|e| !(e.local == addr && e.tcp_state() == Some(TcpState::Listen)))
        .count())
}

#[cfg(not(target_os = "linux"))]
fn others_on(_: SocketAddr) -> io::Result<usize> {
    Ok(0)
}
