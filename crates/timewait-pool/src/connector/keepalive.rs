//! TCP keepalive probe settings, as the connector sets them.

use std::time::Duration;

/// `SO_KEEPALIVE` and its probe settings, for
/// [`TcpConnector::keepalive`](crate::TcpConnector::keepalive). A setting
/// left unset keeps the kernel's (`net.ipv4.tcp_keepalive_*`).
///
/// ```
/// use std::time::Duration;
/// use timewait_pool::TcpKeepalive;
///
/// let keepalive = TcpKeepalive::new()
///     .with_time(Duration::from_secs(30))
///     .with_interval(Duration::from_secs(5))
///     .with_retries(3);
/// assert_eq!(keepalive.time(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpKeepalive {
    time: Option<Duration>,
    interval: Option<Duration>,
    retries: Option<u32>,
}

impl TcpKeepalive {
    /// Keepalive on, with the kernel's probe settings.
    pub fn new() -> Self {
        TcpKeepalive::default()
    }

    /// How long a connection stays idle before the first probe
    /// (`TCP_KEEPIDLE`).
    pub fn with_time(mut self, time: Duration) -> Self {
        self.time = Some(time);
        self
    }

    /// The time between probes (`TCP_KEEPINTVL`).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// How many unanswered probes end the connection (`TCP_KEEPCNT`).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// The idle time before the first probe, if set.
    pub fn time(&self) -> Option<Duration> {
        self.time
    }

    /// The time between probes, if set.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// The number of probes, if set.
    pub fn retries(&self) -> Option<u32> {
        self.retries
    }

    /// The same settings as socket2 takes them.
    pub(crate) fn to_socket2(self) -> socket2::TcpKeepalive {
        let mut keepalive = socket2::TcpKeepalive::new();
        if let Some(time) = self.time {
            keepalive = keepalive.with_time(time);
        }
        if let Some(interval) = self.interval {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(retries) = self.retries {
            keepalive = keepalive.with_retries(retries);
        }
        keepalive
    }
}
