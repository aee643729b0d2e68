//! [`TcpConnector`]: a socket built with socket2, connected by tokio.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use timewait_core::budget::PortRange;
use tokio::net::{TcpSocket, TcpStream};

use super::keepalive::TcpKeepalive;
use super::{ConnectError, Target, sockopt};

/// Opens TCP connections with the socket options a pool wants; a
/// `tower::Service<K>` for every `K: Into<`[`Target`]`>`.
///
/// The socket is created with socket2, given its options and, if asked, its
/// source address, then connected by tokio. A target that resolves to several
/// addresses is tried address by address, in order; the error is the last
/// one's. The service is always ready and cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use tower::ServiceExt;
/// use timewait_pool::TcpConnector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let connector = TcpConnector::new()
///     .connect_timeout(Some(Duration::from_secs(5)))
///     .user_timeout(Some(Duration::from_secs(30)));
/// let stream = connector.oneshot(listener.local_addr()?).await?;
/// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
/// assert!(stream.nodelay()?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TcpConnector {
    nodelay: bool,
    keepalive: Option<TcpKeepalive>,
    user_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    bind_ip: Option<IpAddr>,
    local_port_range: Option<PortRange>,
}

impl TcpConnector {
    /// A connector with `TCP_NODELAY` on and every other option left to the
    /// kernel: no keepalive, no user timeout, no connect timeout, any source
    /// address, the system's port range.
    pub const fn new() -> Self {
        TcpConnector {
            nodelay: true,
            keepalive: None,
            user_timeout: None,
            connect_timeout: None,
            bind_ip: None,
            local_port_range: None,
        }
    }

    /// Sets `TCP_NODELAY` (default `true`). A pooled connection carries
    /// small requests and waits for their answers; Nagle's algorithm would
    /// hold a short write back until the previous one is acknowledged.
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Turns on `SO_KEEPALIVE` with these probe settings (default off). An
    /// idle pooled connection whose peer vanished without a FIN or RST (a
    /// reboot, a NAT or firewall forgetting the flow) is otherwise only found
    /// dead when the next request fails on it.
    pub fn keepalive(mut self, keepalive: Option<TcpKeepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets `TCP_USER_TIMEOUT` (Linux; default off): how long sent data may
    /// stay unacknowledged before the kernel drops the connection with
    /// `ETIMEDOUT`. Without it a write to a silent peer is retransmitted for
    /// about 15 minutes; it also bounds keepalive probing. Zero means the
    /// kernel's default. Elsewhere than Linux, setting it fails every connect.
    pub fn user_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.user_timeout = timeout;
        self
    }

    /// Gives up on an address whose handshake takes longer than `timeout`
    /// (default: none, so the kernel's SYN retries decide, about 2 minutes).
    /// It applies to each address in turn, not to name resolution, and needs
    /// a tokio runtime with time enabled. The error is
    /// [`ConnectError::TimedOut`], of kind [`io::ErrorKind::TimedOut`].
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects from this source address (default: the kernel chooses).
    ///
    /// A plain `bind()` before `connect()` must pick the local port at once,
    /// without knowing the destination, so the port is taken for every
    /// destination and the ports of one source address are shared by all
    /// destinations instead of counted per destination. The connector sets
    /// `IP_BIND_ADDRESS_NO_PORT` (Linux 4.2) first, so `bind()` takes only the
    /// address and `connect()` picks the port per four-tuple as usual.
    /// `SO_REUSEADDR` is not needed for that. The address must be on this
    /// host and of the destination's family; otherwise the connect fails with
    /// [`ConnectError::Bind`].
    pub fn bind_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.bind_ip = ip;
        self
    }

    /// Narrows the ephemeral ports of this connector's sockets to `range`
    /// with `IP_LOCAL_PORT_RANGE` (Linux 6.3; default: the system's range).
    ///
    /// It lets one process keep its connections to a range of its own (to
    /// budget it, or to keep clear of another user of the ports). The kernel
    /// keeps each end only if it lies inside `net.ipv4.ip_local_port_range`
    /// and otherwise uses the system's end. On a kernel without the option
    /// every connect fails with [`ConnectError::PortRangeUnsupported`]: the
    /// connector does not silently fall back to the full range.
    pub fn local_port_range(mut self, range: Option<PortRange>) -> Self {
        self.local_port_range = range;
        self
    }

    /// Connects to `target`, trying its addresses in order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let port = listener.local_addr()?.port();
    /// let connector = timewait_pool::TcpConnector::new();
    /// let stream = connector.connect(("127.0.0.1", port)).await?;
    /// assert_eq!(stream.peer_addr()?.port(), port);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(&self, target: impl Into<Target>) -> Result<TcpStream, ConnectError> {
        let target = target.into();
        let addrs = match target.resolve().await {
            Ok(addrs) => addrs,
            Err(source) => return Err(ConnectError::Resolve { target, source }),
        };
        let mut last_error = None;
        for addr in addrs {
            match self.connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(error) => {
                    tracing::debug!(%target, %addr, %error, "connect attempt failed");
                    last_error = Some(error);
                }
            }
        }
        // `resolve` never returns an empty list, so this is the last address's error.
        Err(last_error.unwrap_or_else(|| ConnectError::Resolve {
            target,
            source: io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address"),
        }))
    }

    async fn connect_addr(&self, addr: SocketAddr) -> Result<TcpStream, ConnectError> {
        let socket = TcpSocket::from_std_stream(self.socket_for(addr)?.into());
        let attempt = async move {
            let connecting = socket.connect(addr);
            connecting
                .await
                .map_err(|source| ConnectError::Connect { addr, source })
        };
        with_timeout(addr, self.connect_timeout, attempt).await
    }

    /// A non-blocking socket for `addr`, with every option set and bound if
    /// asked, not yet connected.
    fn socket_for(&self, addr: SocketAddr) -> Result<Socket, ConnectError> {
        let failed = |step| move |source| ConnectError::Socket { addr, step, source };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(failed("create the socket"))?;
        socket
            .set_nonblocking(true)
            .map_err(failed("set O_NONBLOCK"))?;
        if self.nodelay {
            socket
                .set_tcp_nodelay(true)
                .map_err(failed("set TCP_NODELAY"))?;
        }
        if let Some(keepalive) = self.keepalive {
            socket
                .set_tcp_keepalive(&keepalive.to_socket2())
                .map_err(failed("set SO_KEEPALIVE"))?;
        }
        if let Some(timeout) = self.user_timeout {
            sockopt::set_user_timeout(&socket, timeout).map_err(failed("set TCP_USER_TIMEOUT"))?;
        }
        if let Some(range) = self.local_port_range {
            sockopt::set_local_port_range(&socket, range)
                .map_err(|source| port_range_error(addr, range, source))?;
        }
        if let Some(ip) = self.bind_ip {
            sockopt::set_bind_address_no_port(&socket)
                .map_err(failed("set IP_BIND_ADDRESS_NO_PORT"))?;
            socket
                .bind(&SocketAddr::new(ip, 0).into())
                .map_err(|source| ConnectError::Bind { ip, addr, source })?;
        }
        Ok(socket)
    }
}

/// The error for a failed `IP_LOCAL_PORT_RANGE`: its own variant when the
/// kernel does not know the option.
fn port_range_error(addr: SocketAddr, range: PortRange, source: io::Error) -> ConnectError {
    if sockopt::is_unsupported(&source) {
        ConnectError::PortRangeUnsupported {
            addr,
            range,
            source,
        }
    } else {
        let step = "set IP_LOCAL_PORT_RANGE";
        ConnectError::Socket { addr, step, source }
    }
}

/// Runs `attempt`, failing with [`ConnectError::TimedOut`] for `addr` if it
/// takes longer than `timeout`.
async fn with_timeout<T>(
    addr: SocketAddr,
    timeout: Option<Duration>,
    attempt: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    let Some(timeout) = timeout else {
        return attempt.await;
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_elapsed| {
            let source = io::Error::from(io::ErrorKind::TimedOut);
            Err(ConnectError::TimedOut {
                addr,
                timeout,
                source,
            })
        })
}

impl Default for TcpConnector {
    fn default() -> Self {
        TcpConnector::new()
    }
}

#[cfg(test)]
mod tests;
