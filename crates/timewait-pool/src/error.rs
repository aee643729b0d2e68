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
    /// The pool was shut down.
    #[error("the pool is shut down")]
    Closed,
    /// `call` was made without a successful `poll_ready` first.
    #[error(
        "the pool was called before poll_ready returned ready: call `poll_ready` (or `ServiceExt::ready`) first, on the same clone"
    )]
    NotReady,
}

impl Error {
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
