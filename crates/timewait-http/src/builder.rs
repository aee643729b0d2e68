//! The client's builder: hyper-util's and reqwest's names where they exist,
//! and this project's own (uses, lifetime, close policy, port budget).

use std::net::IpAddr;
use std::time::Duration;

use timewait_pool::{ClosePolicy, Fallback, OnPortsExhausted, PortBudget, PortRange};

use crate::response::Drain;

mod build;

pub use build::BuildError;

/// Builds a [`Client`](crate::Client).
///
/// | setting | default | why |
/// | --- | --- | --- |
/// | [`pool_idle_timeout`](Self::pool_idle_timeout) | 90 s | hyper-util's; a server's `Keep-Alive: timeout` shortens it per connection |
/// | [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) | 32 | bounded (hyper-util's is not) |
/// | [`max_connections_per_host`](Self::max_connections_per_host) | 256 | more requests wait for a connection |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s | a silent host fails fast, not after the kernel's 2 min |
/// | [`tcp_nodelay`](Self::tcp_nodelay) | on | requests are small writes |
/// | [`tcp_keepalive`](Self::tcp_keepalive) | 15 s | reqwest's: finds peers that vanished |
/// | [`tcp_user_timeout`](Self::tcp_user_timeout) | 30 s on Linux, else none | reqwest's |
/// | [`retry_canceled_requests`](Self::retry_canceled_requests) | on | see [retries](crate#retries) |
/// | [`set_host`](Self::set_host) | on | `Host` from the URI when absent |
/// | [`ask_for_keep_alive_hints`](Self::ask_for_keep_alive_hints) | off | no header a server does not need |
/// | [`max_uses_per_connection`](Self::max_uses_per_connection) | none | the server's `Keep-Alive: max` still applies |
/// | [`max_connection_lifetime`](Self::max_connection_lifetime) | none | |
/// | [`close_policy`](Self::close_policy) | `PeerFirst` | the server closes first |
/// | [`close_grace`](Self::close_grace) | 5 s | how long a retirement waits for the server's FIN |
/// | [`server_keep_alive_timeout`](Self::server_keep_alive_timeout) | none | only what servers announce |
/// | [`keep_alive_margin`](Self::keep_alive_margin) | 1 s | stop lending this long before the server's `Keep-Alive: timeout` |
/// | [`drain_unread`](Self::drain_unread) | 64 KiB, 1 s | a body dropped unread is drained, then its connection reused |
/// | [`checkout_timeout`](Self::checkout_timeout) | 30 s | the bound on waiting for a connection |
///
/// ```
/// use std::time::Duration;
/// use timewait_http::Client;
///
/// let client = Client::builder()
///     .pool_idle_timeout(Duration::from_secs(30))
///     .pool_max_idle_per_host(8)
///     .max_uses_per_connection(1000)
///     .build()?;
/// # drop(client);
/// # Ok::<(), timewait_http::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    idle_timeout: Option<Duration>,
    max_idle: usize,
    max_open: usize,
    connect_timeout: Option<Duration>,
    nodelay: bool,
    keepalive: Option<Duration>,
    user_timeout: Option<Duration>,
    local_address: Option<IpAddr>,
    local_port_range: Option<PortRange>,
    retry: bool,
    set_host: bool,
    keep_alive_token: bool,
    max_uses: Option<u64>,
    max_lifetime: Option<Duration>,
    policy: ClosePolicy,
    fallback: Fallback,
    grace: Duration,
    margin: Duration,
    server_timeout: Option<Duration>,
    drain: Drain,
    checkout_timeout: Option<Duration>,
    port_budget: Option<PortBudget>,
    on_exhausted: OnPortsExhausted,
    #[cfg(feature = "tls")]
    tls: Option<rustls::ClientConfig>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults (see the table above).
    pub fn new() -> Builder {
        Builder {
            idle_timeout: Some(Duration::from_secs(90)),
            max_idle: 32,
            max_open: 256,
            connect_timeout: Some(Duration::from_secs(10)),
            nodelay: true,
            keepalive: Some(Duration::from_secs(15)),
            // Linux only: elsewhere the option fails every connect.
            user_timeout: cfg!(target_os = "linux").then_some(Duration::from_secs(30)),
            local_address: None,
            local_port_range: None,
            retry: true,
            set_host: true,
            keep_alive_token: false,
            max_uses: None,
            max_lifetime: None,
            policy: ClosePolicy::PeerFirst,
            fallback: Fallback::Local,
            grace: Duration::from_secs(5),
            margin: Duration::from_secs(1),
            server_timeout: None,
            drain: Drain {
                max_bytes: 64 * 1024,
                within: Duration::from_secs(1),
            },
            checkout_timeout: Some(Duration::from_secs(30)),
            port_budget: None,
            on_exhausted: OnPortsExhausted::Wait,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Retire connections idle this long (`None`: never for idleness).
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Builder {
        self.idle_timeout = timeout.into();
        self
    }

    /// At most this many idle connections per origin.
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Builder {
        self.max_idle = n;
        self.max_open = self.max_open.max(n);
        self
    }

    /// At most this many connections per origin, idle or in use; more
    /// requests wait for one, first come first served.
    pub fn max_connections_per_host(mut self, n: usize) -> Builder {
        self.max_open = n;
        self.max_idle = self.max_idle.min(n);
        self
    }

    /// Give up on a TCP handshake after this long (each address in turn).
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Builder {
        self.connect_timeout = timeout.into();
        self
    }

    /// `TCP_NODELAY`.
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Builder {
        self.nodelay = nodelay;
        self
    }

    /// `SO_KEEPALIVE`, probing after this much idleness (`None`: off).
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Builder {
        self.keepalive = idle.into();
        self
    }

    /// `TCP_USER_TIMEOUT` (Linux): drop a connection whose sent data stays
    /// unacknowledged this long (`None`: the kernel's). Elsewhere than
    /// Linux, setting it makes every connect fail.
    pub fn tcp_user_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Builder {
        self.user_timeout = timeout.into();
        self
    }

    /// Connect from this source address.
    pub fn local_address(mut self, ip: impl Into<Option<IpAddr>>) -> Builder {
        self.local_address = ip.into();
        self
    }

    /// Narrow this client's ephemeral ports (`IP_LOCAL_PORT_RANGE`, Linux 6.3).
    pub fn local_port_range(mut self, range: impl Into<Option<PortRange>>) -> Builder {
        self.local_port_range = range.into();
        self
    }

    /// Retry, once and on another connection, a request that failed on a
    /// reused connection before the server could act on it (see
    /// [retries](crate#retries)). Off: nothing is retried.
    pub fn retry_canceled_requests(mut self, retry: bool) -> Builder {
        self.retry = retry;
        self
    }

    /// Add a `Host` header from the URI to requests that have none.
    pub fn set_host(mut self, set_host: bool) -> Builder {
        self.set_host = set_host;
        self
    }

    /// Send `Connection: keep-alive` on requests that are not a
    /// connection's last: HTTP/1.1 needs no such token, but Apache httpd
    /// announces its `Keep-Alive: timeout=N, max=M` only to a request that
    /// carries it (nginx and Node announce theirs anyway).
    pub fn ask_for_keep_alive_hints(mut self, ask: bool) -> Builder {
        self.keep_alive_token = ask;
        self
    }

    /// Retire a connection after this many requests; the last carries
    /// `Connection: close`, so the server closes first.
    pub fn max_uses_per_connection(mut self, uses: impl Into<Option<u64>>) -> Builder {
        self.max_uses = uses.into();
        self
    }

    /// Retire a connection this old: its next request carries
    /// `Connection: close` (an idle one gets the idle farewell).
    pub fn max_connection_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Builder {
        self.max_lifetime = lifetime.into();
        self
    }

    /// How retired connections are closed: [`ClosePolicy::PeerFirst`] (the
    /// server closes first, the default), `Local` or `Abort`.
    pub fn close_policy(mut self, policy: ClosePolicy) -> Builder {
        self.policy = policy;
        self
    }

    /// What `PeerFirst` does when the server has not closed within the grace.
    pub fn close_fallback(mut self, fallback: Fallback) -> Builder {
        self.fallback = fallback;
        self
    }

    /// How long a retirement waits for the server's FIN.
    pub fn close_grace(mut self, grace: Duration) -> Builder {
        self.grace = grace;
        self
    }

    /// Stop lending a connection this long before the server's announced
    /// `Keep-Alive: timeout`, so a request never races the server's close.
    pub fn keep_alive_margin(mut self, margin: Duration) -> Builder {
        self.margin = margin;
        self
    }

    /// The idle timeout of the servers this client talks to, when they do
    /// not announce it in `Keep-Alive` (nginx's 75 s without the header
    /// parameter, say): connections stop being lent
    /// [`keep_alive_margin`](Self::keep_alive_margin) before it, and an
    /// idle connection retired within the grace of it waits for the
    /// server's close instead of sending `OPTIONS *`. A response's
    /// `Keep-Alive: timeout` overrides it per connection.
    pub fn server_keep_alive_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Builder {
        self.server_timeout = timeout.into();
        self
    }

    /// A response body dropped before its end: read and discard at most
    /// `max_bytes` of its rest within `within`, then reuse the connection;
    /// past either, retire it. `max_bytes = 0`: always retire.
    pub fn drain_unread(mut self, max_bytes: u64, within: Duration) -> Builder {
        self.drain = Drain { max_bytes, within };
        self
    }

    /// How long a request may wait for a connection in all.
    pub fn checkout_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Builder {
        self.checkout_timeout = timeout.into();
        self
    }

    /// The port budget instead of the kernel's range.
    pub fn port_budget(mut self, budget: PortBudget) -> Builder {
        self.port_budget = Some(budget);
        self
    }

    /// Wait for a port, or fail with
    /// [`ErrorKind::PortsExhausted`](crate::ErrorKind::PortsExhausted).
    pub fn on_ports_exhausted(mut self, on: OnPortsExhausted) -> Builder {
        self.on_exhausted = on;
        self
    }

    /// TLS for `https://` origins, with the roots and settings of `config`;
    /// ALPN is set to `http/1.1`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Builder {
        self.tls = Some(config);
        self
    }
}
