//! Where to connect: socket addresses, or host names to look up.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Where [`TcpConnector`](super::TcpConnector) connects: a socket address, or
/// a host name and port looked up with [`tokio::net::lookup_host`] (which
/// parses numeric addresses without asking a resolver).
///
/// The connector is a `tower::Service<K>` for every key `K: Into<Target>`, so
/// a pool keyed by [`SocketAddr`], `(IpAddr, u16)`, `(String, u16)`, `String`
/// or `&str` (`"host:port"`) can use it directly; a key type of your own
/// implements `From<YourKey> for Target`.
///
/// ```
/// use timewait_pool::Target;
///
/// let by_addr = Target::from(std::net::SocketAddr::from(([127, 0, 0, 1], 80)));
/// let by_name = Target::from(("localhost", 80));
/// let literal = Target::from(("::1".parse::<std::net::IpAddr>().unwrap(), 80));
/// assert_eq!(by_addr.to_string(), "127.0.0.1:80");
/// assert_eq!(by_name.to_string(), "localhost:80");
/// assert_eq!(literal.to_string(), "[::1]:80");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target(Inner);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Inner {
    Addr(SocketAddr),
    /// `"host:port"`, as given.
    Name(String),
    HostPort(String, u16),
}

impl Target {
    /// The addresses to try, in the order to try them. A name that resolves to
    /// no address is an error of kind [`io::ErrorKind::NotFound`].
    pub(crate) async fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = match &self.0 {
            Inner::Addr(addr) => return Ok(vec![*addr]),
            Inner::Name(name) => tokio::net::lookup_host(name.as_str()).await?.collect(),
            Inner::HostPort(host, port) => tokio::net::lookup_host((host.as_str(), *port))
                .await?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the name resolved to no address",
            ));
        }
        Ok(addrs)
    }
}

impl fmt::Display for Target {
    /// `ip:port`, `[ipv6]:port`, `host:port`, or the name as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Addr(addr) => write!(f, "{addr}"),
            Inner::Name(name) => f.write_str(name),
            Inner::HostPort(host, port) if host.contains(':') => write!(f, "[{host}]:{port}"),
            Inner::HostPort(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Self {
        Target(Inner::Addr(addr))
    }
}

impl From<SocketAddrV4> for Target {
    fn from(addr: SocketAddrV4) -> Self {
        Target(Inner::Addr(addr.into()))
    }
}

impl From<SocketAddrV6> for Target {
    fn from(addr: SocketAddrV6) -> Self {
        Target(Inner::Addr(addr.into()))
    }
}

impl From<(IpAddr, u16)> for Target {
    fn from(addr: (IpAddr, u16)) -> Self {
        Target(Inner::Addr(addr.into()))
    }
}

impl From<(Ipv4Addr, u16)> for Target {
    fn from(addr: (Ipv4Addr, u16)) -> Self {
        Target(Inner::Addr(addr.into()))
    }
}

impl From<(Ipv6Addr, u16)> for Target {
    fn from(addr: (Ipv6Addr, u16)) -> Self {
        Target(Inner::Addr(addr.into()))
    }
}

impl From<String> for Target {
    /// A `"host:port"` string, looked up when connecting.
    fn from(name: String) -> Self {
        Target(Inner::Name(name))
    }
}

impl From<&str> for Target {
    /// A `"host:port"` string, looked up when connecting.
    fn from(name: &str) -> Self {
        Target(Inner::Name(name.to_owned()))
    }
}

impl From<(String, u16)> for Target {
    fn from((host, port): (String, u16)) -> Self {
        Target(Inner::HostPort(host, port))
    }
}

impl From<(&str, u16)> for Target {
    fn from((host, port): (&str, u16)) -> Self {
        Target(Inner::HostPort(host.to_owned(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_resolves_to_itself_without_a_lookup() {
        let addr = SocketAddr::from(([192, 0, 2, 1], 80));
        assert_eq!(Target::from(addr).resolve().await.unwrap(), [addr]);
        let v6 = (Ipv6Addr::LOCALHOST, 443);
        assert_eq!(Target::from(v6).resolve().await.unwrap(), [v6.into()]);
    }

    #[tokio::test]
    async fn numeric_names_resolve_as_addresses() {
        let addrs = Target::from("192.0.2.1:80").resolve().await.unwrap();
        assert_eq!(addrs, [SocketAddr::from(([192, 0, 2, 1], 80))]);
        let addrs = Target::from(("::1", 8080)).resolve().await.unwrap();
        assert_eq!(addrs, [SocketAddr::from((Ipv6Addr::LOCALHOST, 8080))]);
    }

    #[tokio::test]
    async fn a_name_without_a_port_is_an_error_not_a_panic() {
        assert!(Target::from("192.0.2.1").resolve().await.is_err());
    }
}
