//! The errors of a checkout.

use std::time::Duration;

use timewait_core::ledger::Destination;

/// A boxed error, as tower services return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connector failed to make a new connection.
    #[error("connect failed")]
    Connect(#[source] BoxError),
    /// Every ephemeral port toward the destination is in use or in TIME_WAIT.
    ///
    /// Either the pool's ledger says so before connecting (with
    /// [`OnPortsExhausted::Fail`](crate::OnPortsExhausted::Fail)), or the
    /// kernel said so (`EADDRNOTAVAIL`, "cannot assign requested address").
    #[error(
        "no ephemeral port is free toward {}{}: let the peer close first (ClosePolicy::PeerFirst) or widen net.ipv4.ip_local_port_range",
        destination.map_or_else(|| "the destination".to_owned(), |d| d.to_string()),
        retry_after.map_or_else(String::new, |d| format!(" for another {d:?}"))
    )]
    PortsExhausted {
        /// The destination, when the pool knows it.
        destination: Option<Destination>,
        /// When the next local TIME_WAIT entry toward it ends, if one does.
        retry_after: Option<Duration>,
    },
    /// The checkout waited longer than
    /// [`checkout_timeout`](crate::PoolBuilder::checkout_timeout).
    #[error("checkout timed out after {waited:?} waiting for {waiting_for}")]
    Timeout {
        /// The checkout timeout.
        waited: Duration,
        /// What the checkout was waiting for when its time ran out.
        waiting_for: WaitingFor,
    },
    /// The pool was shut down.
    #[error("the pool is shut down")]
    Closed,
}

/// What a checkout was waiting for when [`Error::Timeout`] ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitingFor {
    /// A connection of its key, or room to make one: the key's
    /// [`max_open_per_key`](crate::PoolBuilder::max_open_per_key), or the
    /// pool's [`max_total`](crate::PoolBuilder::max_total), was reached.
    Connection,
    /// A free ephemeral port toward the destination (the port budget).
    Ports,
    /// The connector to make the connection.
    Connect,
}

impl std::fmt::Display for WaitingFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WaitingFor::Connection => {
                "a connection of its key (max_open_per_key or max_total reached)"
            }
            WaitingFor::Ports => "a free ephemeral port toward the destination",
            WaitingFor::Connect => "the connector",
        })
    }
}

impl Error {
    /// Whether this is [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether this is [`Error::PortsExhausted`].
    pub fn is_ports_exhausted(&self) -> bool {
        matches!(self, Error::PortsExhausted { .. })
    }

    /// For [`Error::PortsExhausted`], how long until a port frees.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::PortsExhausted { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
