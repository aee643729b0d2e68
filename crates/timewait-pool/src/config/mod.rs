//! The pool's configuration: what a validated configuration holds, the
//! builder that checks it (`builder`), and what it refuses (`error`).

mod builder;
mod ends;
mod error;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use timewait_core::budget::{PortBudget, TwReuse};

use crate::farewell::Farewell;
use crate::key::Key;
use crate::policy::{ClosePolicy, Fallback, HealthCheck, OnPortsExhausted};

pub use builder::{NoConnector, PoolBuilder, WithConnector};
pub(crate) use ends::Ends;
pub use error::ConfigError;

/// The peer's keep-alive (idle) timeout and how early to stop lending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerKeepAlive {
    pub(crate) timeout: Duration,
    pub(crate) margin: Duration,
}

/// The limits of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_idle_per_key: usize,
    pub(crate) max_open_per_key: usize,
    pub(crate) max_total: usize,
    pub(crate) max_keys: usize,
    pub(crate) max_retiring: usize,
}

/// A validated pool configuration, made by [`PoolBuilder::build`]; give it to
/// [`Pool::new`](crate::Pool::new) or [`PoolLayer::new`](crate::PoolLayer::new).
pub struct PoolConfig<K, C> {
    pub(crate) limits: Limits,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) max_uses: Option<u64>,
    pub(crate) policy: ClosePolicy,
    pub(crate) policy_per_key: HashMap<K, ClosePolicy>,
    pub(crate) farewell: Option<Arc<dyn Farewell<K, C>>>,
    pub(crate) keep_alive: Option<PeerKeepAlive>,
    pub(crate) checkout_timeout: Option<Duration>,
    pub(crate) health_check: HealthCheck,
    pub(crate) grace: Duration,
    pub(crate) fallback: Fallback,
    pub(crate) budget: PortBudget,
    pub(crate) tw_reuse: TwReuse,
    pub(crate) on_exhausted: OnPortsExhausted,
}

impl<K: Key, C> PoolConfig<K, C> {
    /// The close policy for `key`: its override, or the pool's.
    pub fn policy_for(&self, key: &K) -> ClosePolicy {
        self.policy_per_key.get(key).copied().unwrap_or(self.policy)
    }

    /// How long a connection may sit idle before the pool retires it: the
    /// idle timeout, or the peer's keep-alive less the margin, whichever ends
    /// first.
    pub fn idle_limit(&self) -> Option<Duration> {
        let before_peer = self.keep_alive.map(|k| k.timeout.saturating_sub(k.margin));
        match (self.idle_timeout, before_peer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What ends a lent connection's use.
    pub(crate) fn ends(&self) -> Ends {
        Ends {
            max_uses: self.max_uses,
            max_lifetime: self.max_lifetime,
            idle_limit: self.idle_limit(),
            check_after_rest: matches!(self.health_check, HealthCheck::IdleFor(_)),
        }
    }

    /// The port budget the pool admits new connections against.
    pub fn port_budget(&self) -> &PortBudget {
        &self.budget
    }

    /// The grace period a retirement waits for the peer's FIN.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// How long a checkout may wait in all before it fails with
    /// [`Error::Timeout`](crate::Error::Timeout).
    pub fn checkout_timeout(&self) -> Option<Duration> {
        self.checkout_timeout
    }
}

impl<K: Clone, C> Clone for PoolConfig<K, C> {
    fn clone(&self) -> Self {
        PoolConfig {
            limits: self.limits,
            idle_timeout: self.idle_timeout,
            max_lifetime: self.max_lifetime,
            max_uses: self.max_uses,
            policy: self.policy,
            policy_per_key: self.policy_per_key.clone(),
            farewell: self.farewell.clone(),
            keep_alive: self.keep_alive,
            checkout_timeout: self.checkout_timeout,
            health_check: self.health_check,
            grace: self.grace,
            fallback: self.fallback,
            budget: self.budget.clone(),
            tw_reuse: self.tw_reuse,
            on_exhausted: self.on_exhausted,
        }
    }
}

impl<K: fmt::Debug, C> fmt::Debug for PoolConfig<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("limits", &self.limits)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("max_uses", &self.max_uses)
            .field("policy", &self.policy)
            .field("policy_per_key", &self.policy_per_key)
            .field("farewell", &self.farewell.is_some())
            .field("keep_alive", &self.keep_alive)
            .field("checkout_timeout", &self.checkout_timeout)
            .field("health_check", &self.health_check)
            .field("grace", &self.grace)
            .field("fallback", &self.fallback)
            .field("budget", &self.budget)
            .field("tw_reuse", &self.tw_reuse)
            .field("on_exhausted", &self.on_exhausted)
            .finish()
    }
}
