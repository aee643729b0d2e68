//! How the pool closes the connections it retires.

use std::fmt;
use std::time::Duration;

/// How a retired connection is closed, and so which side keeps TIME_WAIT.
///
/// | policy | who sends the first FIN | TIME_WAIT on |
/// | --- | --- | --- |
/// | [`PeerFirst`](ClosePolicy::PeerFirst) (default) | the peer | the peer |
/// | [`Local`](ClosePolicy::Local) | this client | this client |
/// | [`Abort`](ClosePolicy::Abort) | nobody (RST) | nobody |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClosePolicy {
    /// Make the peer close first, so that TIME_WAIT lands on the peer, where
    /// it costs memory and no ephemeral port.
    ///
    /// With a [farewell](crate::Farewell) the pool tells the peer to close (the
    /// echo protocol's `QUIT` line, say); without one it relies on the peer's
    /// own idle close, and stops lending a connection a margin before the
    /// peer's keep-alive timeout (see
    /// [`PoolBuilder::peer_keep_alive`](crate::PoolBuilder::peer_keep_alive)).
    /// Either way the pool then reads until the peer's FIN, bounded by the
    /// grace period, and only then drops its side: a passive close. When the
    /// grace runs out it applies the [`Fallback`].
    #[default]
    PeerFirst,
    /// Close from this side at once: a FIN, and this client keeps the
    /// TIME_WAIT entry, which ties up the local port toward that destination
    /// for 2×MSL. The pool records it in its ledger and budget.
    Local,
    /// Abort with `SO_LINGER` set to zero: the kernel sends a RST and nobody
    /// keeps TIME_WAIT.
    ///
    /// # Dangers
    ///
    /// Unsent and unacknowledged data is discarded, and the peer sees a reset
    /// rather than an orderly end. Without TIME_WAIT nothing stops a delayed
    /// segment of the old connection from being taken into a new one with the
    /// same four-tuple (RFC 9293 §3.4.1), and the peer's last FIN, if it was
    /// lost, can never be acknowledged. Use it only when you know the protocol
    /// is idle and the network path does not reorder or delay segments by
    /// seconds; never as a default.
    Abort,
}

impl fmt::Display for ClosePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosePolicy::PeerFirst => "peer-first",
            ClosePolicy::Local => "local",
            ClosePolicy::Abort => "abort",
        })
    }
}

/// How [`ClosePolicy::PeerFirst`] closes a connection when the peer cannot
/// be made to close first.
///
/// It applies when the peer has not closed within the grace period (or the
/// farewell could not be sent within it), and at once, without waiting,
/// when waiting would be wrong or cannot be afforded: the lease was dropped
/// without a release or released mid-exchange (a farewell could be read as
/// the rest of a request), the connection is broken (an I/O error, a FIN
/// this side sent, marked broken), or `max_retiring` retirements are already
/// waiting for their peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Fallback {
    /// Close from this side; the client keeps TIME_WAIT (recorded in the
    /// ledger). The safe default.
    #[default]
    Local,
    /// Abort with a RST. Carries the dangers of [`ClosePolicy::Abort`].
    Abort,
}

/// Who ended a retired connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClosedBy {
    /// The peer sent the first FIN; TIME_WAIT is on the peer.
    Peer,
    /// The peer reset the connection; nobody keeps TIME_WAIT.
    PeerReset,
    /// This side sent the first FIN; TIME_WAIT is on this client.
    Local,
    /// This side aborted with a RST; nobody keeps TIME_WAIT.
    Abort,
    /// The kernel ended the connection because the peer stopped answering
    /// (`ETIMEDOUT`: retransmissions, `TCP_USER_TIMEOUT` or keep-alive probes
    /// went unanswered). The socket was closed without a FIN from this side,
    /// so nobody here keeps TIME_WAIT.
    TimedOut,
}

impl ClosedBy {
    /// Whether this client holds a TIME_WAIT entry for the connection.
    pub fn leaves_local_time_wait(self) -> bool {
        self == ClosedBy::Local
    }
}

impl fmt::Display for ClosedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosedBy::Peer => "peer",
            ClosedBy::PeerReset => "peer-reset",
            ClosedBy::Local => "local",
            ClosedBy::Abort => "abort",
            ClosedBy::TimedOut => "timed-out",
        })
    }
}

/// What a checkout does when the destination's ephemeral ports are all in use
/// or in TIME_WAIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnPortsExhausted {
    /// Wait until the ledger's next TIME_WAIT entry toward the destination
    /// ends, then connect.
    #[default]
    Wait,
    /// Fail at once with [`Error::PortsExhausted`](crate::Error::PortsExhausted).
    Fail,
}

/// When a checkout asks an idle connection, before lending it again, whether
/// it is still usable ([`Connection::health`](crate::Connection::health):
/// one non-blocking `MSG_PEEK` for a `TcpStream`).
///
/// A check finds a peer's FIN or RST that arrived while the connection sat
/// idle, so the borrower does not send a request into a closed connection.
/// It cannot close the reuse race: a FIN that leaves the server just after
/// the check still meets the request (a keep-alive margin, or a retry of an
/// idempotent request, covers that). What a check costs is one system call
/// per reuse; what skipping it costs is a request sent on a connection the
/// server closed since its last use, and bytes nobody asked for (an HTTP
/// server's `408` before its idle close, or the tail of an exchange its
/// borrower released too early) reaching the next borrower instead of
/// retiring the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HealthCheck {
    /// Before every reuse. The default: a server that closes idle
    /// connections is caught whenever its close arrived before the checkout.
    #[default]
    Always,
    /// Only when the connection sat idle at least this long (a server's
    /// close comes after some idle time, so a connection back a moment ago
    /// is lent without a system call, and so is one handed straight from
    /// its last borrower to a waiting checkout). Costs a clock read per
    /// reuse.
    IdleFor(Duration),
    /// Never: the borrower meets a closed connection as an I/O error.
    Never,
}
