//! The builder: settings with defaults, checked as a whole by `build`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use timewait_core::DEFAULT_TIME_WAIT;
use timewait_core::budget::{PortBudget, PortRange, TwReuse};

use super::{ConfigError, Limits, PeerKeepAlive, PoolConfig};
use crate::farewell::Farewell;
use crate::key::Key;
use crate::policy::{ClosePolicy, Fallback, HealthCheck, OnPortsExhausted};

/// Builds a [`PoolConfig`] (from [`PoolBuilder::new`], for a
/// [`PoolLayer`](crate::PoolLayer)) or a [`Pool`](crate::Pool) (from
/// [`Pool::builder`](crate::Pool::builder)), checking the configuration as a
/// whole.
///
/// Defaults: 32 idle and 256 open connections per key, 1,024 in total, 1,024
/// keys, idle timeout 90 s, no maximum lifetime or use count, a checkout
/// timeout of 30 s, a [health check](HealthCheck::Always) before every
/// reuse, [`ClosePolicy::PeerFirst`] with a 5 s grace and a
/// [`Fallback::Local`], port range, reserved ports and `tcp_tw_reuse` read
/// from the kernel (Linux's defaults if unreadable), a 60 s TIME_WAIT, and
/// [`OnPortsExhausted::Wait`]. `PeerFirst` needs a way to make the peer
/// close, a [farewell](Self::farewell) or the [peer's keep-alive
/// timeout](Self::peer_keep_alive): without one, [`build`](Self::build)
/// says so.
///
/// ```
/// use std::time::Duration;
/// use timewait_pool::{ClosePolicy, ConfigError, FarewellMessage, PoolBuilder};
/// use tokio::net::TcpStream;
///
/// let config = PoolBuilder::<std::net::SocketAddr, TcpStream>::new()
///     .max_idle_per_key(8)
///     .max_lifetime(Duration::from_secs(300))
///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
///     .build()?;
/// assert_eq!(config.grace(), Duration::from_secs(5));
///
/// let nothing_to_say = PoolBuilder::<std::net::SocketAddr, TcpStream>::new().build();
/// assert!(matches!(nothing_to_say, Err(ConfigError::PeerFirstWithoutFarewell { .. })));
/// # Ok::<(), timewait_pool::ConfigError>(())
/// ```
pub struct PoolBuilder<K, C, S = NoConnector> {
    config: PoolConfig<K, C>,
    time_wait: Duration,
    budget: Option<PortBudget>,
    tw_reuse: Option<TwReuse>,
    connector: S,
}

/// The connector slot of a [`PoolBuilder`] made by [`PoolBuilder::new`]:
/// none, so it builds a [`PoolConfig`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnector;

/// The connector slot of a [`PoolBuilder`] made by
/// [`Pool::builder`](crate::Pool::builder): it builds the
/// [`Pool`](crate::Pool) itself.
#[derive(Debug, Clone)]
pub struct WithConnector<S>(pub(crate) S);

impl<K: Key, C> Default for PoolBuilder<K, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: fmt::Debug, C, S> fmt::Debug for PoolBuilder<K, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", &self.config)
            .field("time_wait", &self.time_wait)
            .finish_non_exhaustive()
    }
}

impl<K: Key, C> PoolBuilder<K, C> {
    /// A builder with the defaults.
    pub fn new() -> Self {
        PoolBuilder {
            config: PoolConfig {
                limits: Limits {
                    max_idle_per_key: 32,
                    max_open_per_key: 256,
                    max_total: 1024,
                    max_keys: 1024,
                    max_retiring: 1024,
                },
                idle_timeout: Some(Duration::from_secs(90)),
                max_lifetime: None,
                max_uses: None,
                policy: ClosePolicy::PeerFirst,
                policy_per_key: HashMap::new(),
                farewell: None,
                keep_alive: None,
                checkout_timeout: Some(Duration::from_secs(30)),
                health_check: HealthCheck::Always,
                grace: Duration::from_secs(5),
                fallback: Fallback::Local,
                budget: PortBudget::new(PortRange::LINUX_DEFAULT),
                tw_reuse: TwReuse::LoopbackOnly,
                on_exhausted: OnPortsExhausted::Wait,
            },
            time_wait: DEFAULT_TIME_WAIT,
            budget: None,
            tw_reuse: None,
            connector: NoConnector,
        }
    }

    /// Checks the configuration and reads from the kernel what was not given.
    pub fn build(self) -> Result<PoolConfig<K, C>, ConfigError> {
        self.validate().map(|(config, NoConnector)| config)
    }

    /// The same settings, building a [`Pool`] over `connector`.
    pub(crate) fn connector<S>(self, connector: S) -> PoolBuilder<K, C, WithConnector<S>> {
        PoolBuilder {
            config: self.config,
            time_wait: self.time_wait,
            budget: self.budget,
            tw_reuse: self.tw_reuse,
            connector: WithConnector(connector),
        }
    }
}

impl<K: Key, C, S> PoolBuilder<K, C, S> {
    /// At most this many idle connections per key; more are retired.
    pub fn max_idle_per_key(mut self, n: usize) -> Self {
        self.config.limits.max_idle_per_key = n;
        self
    }

    /// At most this many open connections (idle, lent or connecting) per key;
    /// checkouts past it wait, first come first served.
    pub fn max_open_per_key(mut self, n: usize) -> Self {
        self.config.limits.max_open_per_key = n;
        self
    }

    /// At most this many open connections in all (idle, lent or being made;
    /// not waiting checkouts). A checkout that would pass it retires the
    /// idle connection of the least recently used other key to make room;
    /// with none, it waits in the pool's queue, first come first served
    /// across keys, holding nothing another key needs.
    pub fn max_total(mut self, n: usize) -> Self {
        self.config.limits.max_total = n;
        self
    }

    /// At most this many keys are remembered, so that keys chosen by remote
    /// users cannot grow memory without limit.
    ///
    /// When a new key arrives at the limit, one key is forgotten first: the
    /// least recently used key with no connection at all (forgetting it
    /// costs nothing), or else the least recently used key that is not
    /// busy, whose idle connections are retired under its close policy
    /// (under `PeerFirst` in the background; a local close or an abort is
    /// one system call, made by the checkout that brought the new key). Its
    /// per-key stats go (the pool's totals keep them). A key is busy while a
    /// connection of it is lent or being made; busy keys are never
    /// forgotten. A checkout waiting for a key holds no state of it (the key
    /// is remembered when the checkout is served), so waiting checkouts do
    /// not grow the map. If every remembered key is busy, the
    /// new key is remembered anyway, so the map can exceed the limit by the
    /// number of busy keys, which [`max_total`](Self::max_total) bounds; the
    /// next new keys bring it back down as keys fall idle.
    ///
    /// Finding that key takes amortized O(log n) in the number of keys,
    /// whatever the number of keys passing through, plus O(log n) for each
    /// busy key passed over (at most [`max_total`](Self::max_total) of them).
    pub fn max_keys(mut self, n: usize) -> Self {
        self.config.limits.max_keys = n;
        self
    }

    /// At most this many retirements run at once; past it a retirement applies
    /// the fallback at once instead of waiting for the peer.
    pub fn max_retiring(mut self, n: usize) -> Self {
        self.config.limits.max_retiring = n;
        self
    }

    /// Retire connections idle this long (`None`: never for idleness).
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.idle_timeout = timeout.into();
        self
    }

    /// Retire connections this old, at their next check-in or while idle.
    pub fn max_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.config.max_lifetime = lifetime.into();
        self
    }

    /// Retire connections after this many checkouts. The last one is lent
    /// with [`Pooled::is_final_use`](crate::Pooled::is_final_use) set, so an
    /// HTTP client can send `Connection: close` on it.
    pub fn max_uses(mut self, uses: impl Into<Option<u64>>) -> Self {
        self.config.max_uses = uses.into();
        self
    }

    /// The close policy of every key without an override.
    pub fn close_policy(mut self, policy: ClosePolicy) -> Self {
        self.config.policy = policy;
        self
    }

    /// The close policy of one key.
    pub fn close_policy_for(mut self, key: K, policy: ClosePolicy) -> Self {
        self.config.policy_per_key.insert(key, policy);
        self
    }

    /// The protocol hook that asks the peer to close, for
    /// [`ClosePolicy::PeerFirst`].
    pub fn farewell(mut self, farewell: impl Farewell<K, C>) -> Self {
        self.config.farewell = Some(Arc::new(farewell));
        self
    }

    /// The peer closes connections idle for `timeout` (an HTTP server's
    /// keep-alive timeout, say); the pool stops lending a connection `margin`
    /// before, so a request never races the peer's close, and retiring one
    /// waits for that close.
    pub fn peer_keep_alive(mut self, timeout: Duration, margin: Duration) -> Self {
        self.config.keep_alive = Some(PeerKeepAlive { timeout, margin });
        self
    }

    /// How long a checkout may wait in all (for its key's limit, for room
    /// under the total, for the port budget, for the connector) before it
    /// fails with [`Error::Timeout`](crate::Error::Timeout), which says what
    /// it was waiting for. `None`: no bound. Default 30 s.
    pub fn checkout_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.checkout_timeout = timeout.into();
        self
    }

    /// When a checkout checks an idle connection before lending it again
    /// (default [`HealthCheck::Always`]).
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        self.config.health_check = check;
        self
    }

    /// How long a retirement waits for the peer's FIN before the fallback.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// What happens when the grace runs out.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.config.fallback = fallback;
        self
    }

    /// The port budget (range and reserved ports) instead of the kernel's.
    pub fn port_budget(mut self, budget: PortBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The TIME_WAIT length for the ledger and budget (default 60 s, Linux's).
    pub fn time_wait(mut self, time_wait: Duration) -> Self {
        self.time_wait = time_wait;
        self
    }

    /// Whether the kernel reuses the client's TIME_WAIT ports
    /// (`net.ipv4.tcp_tw_reuse`), instead of reading it. Toward addresses
    /// where it does, local TIME_WAIT entries are still counted in the ledger
    /// and stats but do not hold back new connections.
    pub fn tw_reuse(mut self, reuse: TwReuse) -> Self {
        self.tw_reuse = Some(reuse);
        self
    }

    /// Wait or fail when the ports toward a destination are spent.
    pub fn on_ports_exhausted(mut self, on: OnPortsExhausted) -> Self {
        self.config.on_exhausted = on;
        self
    }

    /// Checks the configuration as a whole and reads from the kernel what
    /// was not given.
    pub(crate) fn validate(self) -> Result<(PoolConfig<K, C>, S), ConfigError> {
        let PoolBuilder {
            mut config,
            time_wait,
            budget,
            tw_reuse,
            connector,
        } = self;
        let limits = config.limits;
        for (name, value) in [
            ("max_idle_per_key", limits.max_idle_per_key),
            ("max_open_per_key", limits.max_open_per_key),
            ("max_total", limits.max_total),
            ("max_keys", limits.max_keys),
            ("max_retiring", limits.max_retiring),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        if config.max_uses == Some(0) {
            return Err(ConfigError::ZeroLimit { name: "max_uses" });
        }
        if limits.max_idle_per_key > limits.max_open_per_key {
            return Err(ConfigError::IdleAboveOpen {
                idle: limits.max_idle_per_key,
                open: limits.max_open_per_key,
            });
        }
        for (name, value) in [
            ("idle_timeout", config.idle_timeout),
            ("max_lifetime", config.max_lifetime),
            ("checkout_timeout", config.checkout_timeout),
            ("grace", Some(config.grace)),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(ConfigError::ZeroDuration { name });
            }
        }
        if let Some(keep_alive) = config.keep_alive {
            if keep_alive.margin >= keep_alive.timeout {
                return Err(ConfigError::MarginNotBelowKeepAlive {
                    timeout: keep_alive.timeout,
                    margin: keep_alive.margin,
                });
            }
            let waits_for_idle_close = config.farewell.is_none()
                && (config.policy == ClosePolicy::PeerFirst
                    || config
                        .policy_per_key
                        .values()
                        .any(|p| *p == ClosePolicy::PeerFirst));
            if waits_for_idle_close && config.grace < keep_alive.margin {
                return Err(ConfigError::GraceBelowMargin {
                    grace: config.grace,
                    margin: keep_alive.margin,
                });
            }
        }
        if config.farewell.is_none() && config.keep_alive.is_none() {
            let peer_first = |p: &ClosePolicy| *p == ClosePolicy::PeerFirst;
            if peer_first(&config.policy) {
                return Err(ConfigError::PeerFirstWithoutFarewell { key: None });
            }
            if let Some((key, _)) = config.policy_per_key.iter().find(|(_, p)| peer_first(p)) {
                return Err(ConfigError::PeerFirstWithoutFarewell {
                    key: Some(format!("{key:?}")),
                });
            }
        }
        let budget = budget.unwrap_or_else(kernel_port_budget);
        let budget = budget.with_time_wait(time_wait)?;
        if budget.usable_ports() == 0 {
            return Err(ConfigError::NoUsablePorts {
                range: budget.range(),
            });
        }
        config.budget = budget;
        config.tw_reuse = tw_reuse.unwrap_or_else(kernel_tw_reuse);
        Ok((config, connector))
    }
}

fn kernel_tw_reuse() -> TwReuse {
    #[cfg(target_os = "linux")]
    match timewait_core::sys::tcp_tw_reuse() {
        Ok(reuse) => return reuse,
        Err(error) => tracing::warn!(%error, "assuming Linux's default tcp_tw_reuse = 2"),
    }
    TwReuse::default()
}

fn kernel_port_budget() -> PortBudget {
    #[cfg(target_os = "linux")]
    match timewait_core::sys::port_budget() {
        Ok(budget) => return budget,
        Err(error) => tracing::warn!(%error, "using Linux's default port range"),
    }
    PortBudget::new(PortRange::LINUX_DEFAULT)
}
