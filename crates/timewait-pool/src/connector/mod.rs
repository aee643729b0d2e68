//! The connector: opens the pool's TCP connections.
//!
//! [`TcpConnector`] is a `tower::Service<K>` for any key that converts into a
//! [`Target`] (a socket address or a host name and port). It builds each
//! socket with socket2 and sets the options that matter for a long-lived
//! pooled connection: `TCP_NODELAY`, keepalive, `TCP_USER_TIMEOUT`, a connect
//! timeout, a source address bound without reserving a port
//! (`IP_BIND_ADDRESS_NO_PORT`), and a per-socket port range
//! (`IP_LOCAL_PORT_RANGE`). Failures are [`ConnectError`]s that keep the
//! kernel's [`std::io::Error`] as their source.

mod error;
mod keepalive;
mod service;
mod sockopt;
mod target;
mod tcp;

pub use error::ConnectError;
pub use keepalive::TcpKeepalive;
pub use service::Connecting;
pub use target::Target;
pub use tcp::TcpConnector;
