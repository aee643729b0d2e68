//! Why a connection could not be made.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use timewait_core::budget::PortRange;

use super::Target;

/// Why [`TcpConnector`](super::TcpConnector) could not connect.
///
/// Every variant keeps the [`io::Error`] behind it, returned by
/// [`io_error`](Self::io_error) and by [`std::error::Error::source`], so code
/// that only sees a boxed error can still walk the chain to the kernel's
/// answer. A port shortage shows up as [`is_out_of_ports`](Self::is_out_of_ports).
/// When a target resolves to several addresses, they are tried in order and
/// the error is the last address's.
///
/// ```
/// use std::io;
/// use timewait_pool::TcpConnector;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Nothing listens on port 1 of the loopback address.
/// let error = TcpConnector::new().connect("127.0.0.1:1").await.unwrap_err();
/// assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
/// assert_eq!(error.addr(), Some("127.0.0.1:1".parse().unwrap()));
/// assert_eq!(error.to_string(), "could not connect to 127.0.0.1:1");
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The target's host name could not be resolved, or resolved to no address.
    #[error("could not resolve {target}: check the host name and port")]
    Resolve {
        /// The target as given.
        target: Target,
        /// The resolver's error.
        source: io::Error,
    },
    /// The socket could not be created or one of its options set.
    #[error("could not {step} for a connection to {addr}")]
    Socket {
        /// The address the socket was for.
        addr: SocketAddr,
        /// What failed, such as `create the socket` or `set TCP_USER_TIMEOUT`.
        step: &'static str,
        /// The kernel's error.
        source: io::Error,
    },
    /// The kernel has no per-socket port range (`IP_LOCAL_PORT_RANGE` needs
    /// Linux 6.3 or later, and Linux).
    #[error(
        "this kernel cannot narrow the port range of one socket (IP_LOCAL_PORT_RANGE needs Linux 6.3): remove `local_port_range` ({range}) or narrow net.ipv4.ip_local_port_range instead"
    )]
    PortRangeUnsupported {
        /// The address the socket was for.
        addr: SocketAddr,
        /// The range that was asked for.
        range: PortRange,
        /// The kernel's error, `ENOPROTOOPT`.
        source: io::Error,
    },
    /// The source address could not be bound.
    #[error(
        "could not bind source address {ip} to connect to {addr}: use an address of this host, of the same family as the destination"
    )]
    Bind {
        /// The source address asked for.
        ip: IpAddr,
        /// The destination.
        addr: SocketAddr,
        /// The kernel's error.
        source: io::Error,
    },
    /// `connect()` failed: refused, unreachable, reset, or out of local ports.
    #[error("could not connect to {addr}")]
    Connect {
        /// The destination.
        addr: SocketAddr,
        /// The kernel's error.
        source: io::Error,
    },
    /// The connection was not established within the connect timeout.
    #[error(
        "connecting to {addr} took longer than {timeout:?}: raise `connect_timeout` or check that {addr} answers"
    )]
    TimedOut {
        /// The destination.
        addr: SocketAddr,
        /// The timeout that ran out.
        timeout: Duration,
        /// An error of kind [`io::ErrorKind::TimedOut`].
        source: io::Error,
    },
}

impl ConnectError {
    /// The I/O error behind this one: the kernel's or the resolver's answer,
    /// or a [`TimedOut`](io::ErrorKind::TimedOut) error for a timeout.
    pub fn io_error(&self) -> &io::Error {
        match self {
            ConnectError::Resolve { source, .. }
            | ConnectError::Socket { source, .. }
            | ConnectError::PortRangeUnsupported { source, .. }
            | ConnectError::Bind { source, .. }
            | ConnectError::Connect { source, .. }
            | ConnectError::TimedOut { source, .. } => source,
        }
    }

    /// The kind of the I/O error behind this one.
    pub fn kind(&self) -> io::ErrorKind {
        self.io_error().kind()
    }

    /// The destination address that failed; `None` when the name did not
    /// resolve.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            ConnectError::Resolve { .. } => None,
            ConnectError::Socket { addr, .. }
            | ConnectError::PortRangeUnsupported { addr, .. }
            | ConnectError::Bind { addr, .. }
            | ConnectError::Connect { addr, .. }
            | ConnectError::TimedOut { addr, .. } => Some(*addr),
        }
    }

    /// Whether `connect()` failed with `EADDRNOTAVAIL` ("cannot assign
    /// requested address"): every local port toward this destination is in
    /// use or in TIME_WAIT. The same errno from [`Bind`](Self::Bind) means
    /// something else (the source address is not on this host) and is not
    /// counted.
    pub fn is_out_of_ports(&self) -> bool {
        matches!(self, ConnectError::Connect { source, .. }
            if source.kind() == io::ErrorKind::AddrNotAvailable)
    }
}

impl From<ConnectError> for io::Error {
    /// An I/O error of the same kind that carries the `ConnectError` (its
    /// [`raw_os_error`](io::Error::raw_os_error) is `None`: find the errno
    /// through [`ConnectError::io_error`]).
    fn from(error: ConnectError) -> Self {
        io::Error::new(error.kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn connect_error(errno: i32) -> ConnectError {
        ConnectError::Connect {
            addr: SocketAddr::from(([192, 0, 2, 1], 80)),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn eaddrnotavail_from_connect_is_out_of_ports_and_reachable_through_source() {
        let error = connect_error(libc::EADDRNOTAVAIL);
        assert!(error.is_out_of_ports());
        let source = error.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(
            source.and_then(io::Error::raw_os_error),
            Some(libc::EADDRNOTAVAIL)
        );
        assert!(!connect_error(libc::ECONNREFUSED).is_out_of_ports());
    }

    #[test]
    fn eaddrnotavail_from_bind_is_not_out_of_ports() {
        let error = ConnectError::Bind {
            ip: IpAddr::from([192, 0, 2, 7]),
            addr: SocketAddr::from(([192, 0, 2, 1], 80)),
            source: io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        };
        assert!(!error.is_out_of_ports());
        assert_eq!(error.kind(), io::ErrorKind::AddrNotAvailable);
    }

    #[test]
    fn converting_to_io_error_keeps_the_kind_and_the_connect_error() {
        let error: io::Error = connect_error(libc::ECONNREFUSED).into();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        let inner = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<ConnectError>());
        assert!(inner.is_some_and(|e| e.addr().is_some()));
    }
}
