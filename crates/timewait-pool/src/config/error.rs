//! What the builder refuses, and what to change.

use std::time::Duration;

use timewait_core::budget::{BudgetError, PortRange};

/// A configuration the builder refused, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A limit was zero.
    #[error("{name} is zero: give it at least 1")]
    ZeroLimit {
        /// The builder method that set it.
        name: &'static str,
    },
    /// A duration was zero.
    #[error("{name} is zero: give it a positive duration, or leave it unset")]
    ZeroDuration {
        /// The builder method that set it.
        name: &'static str,
    },
    /// More idle connections per key than open ones.
    #[error(
        "max_idle_per_key ({idle}) exceeds max_open_per_key ({open}): lower it to at most {open}"
    )]
    IdleAboveOpen {
        /// The idle limit.
        idle: usize,
        /// The open limit.
        open: usize,
    },
    /// The keep-alive margin leaves no time to use a connection.
    #[error(
        "peer keep-alive margin {margin:?} is not shorter than the keep-alive timeout {timeout:?}, so a connection could never be lent: shorten the margin below the timeout"
    )]
    MarginNotBelowKeepAlive {
        /// The peer's keep-alive timeout.
        timeout: Duration,
        /// The margin.
        margin: Duration,
    },
    /// Waiting on the peer's own idle close with a grace that ends first.
    #[error(
        "grace {grace:?} is shorter than the keep-alive margin {margin:?}: with no farewell the pool waits for the peer's idle close, which takes up to the margin; raise the grace"
    )]
    GraceBelowMargin {
        /// The grace period.
        grace: Duration,
        /// The keep-alive margin.
        margin: Duration,
    },
    /// [`ClosePolicy::PeerFirst`](crate::ClosePolicy::PeerFirst) with nothing that makes the peer close:
    /// every retirement would hold its descriptor for the grace period and
    /// then close from this side anyway.
    #[error(
        "close policy peer-first{} has no way to make the peer close: set a farewell (PoolBuilder::farewell) or the peer's keep-alive timeout (PoolBuilder::peer_keep_alive), or choose ClosePolicy::Local",
        key.as_ref().map_or_else(String::new, |k| format!(" (for key {k})"))
    )]
    PeerFirstWithoutFarewell {
        /// The key whose override chose `PeerFirst`, as `Debug` prints it;
        /// `None` for the pool's own policy.
        key: Option<String>,
    },
    /// The port budget leaves no usable port.
    #[error(
        "no usable ephemeral port in {range} once reserved ports are taken out: widen the range or reserve fewer ports"
    )]
    NoUsablePorts {
        /// The range.
        range: PortRange,
    },
    /// The port budget refused the TIME_WAIT length.
    #[error(transparent)]
    Budget(#[from] BudgetError),
}
