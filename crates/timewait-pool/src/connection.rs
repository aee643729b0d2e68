//! What the pool needs to know about the connections it holds.

use std::future::Future;
use std::io;
use std::time::Duration;

use timewait_core::ledger::Destination;

/// A connection the pool can hold, lend and retire.
///
/// The pool asks three things of a connection: is it still usable (without
/// blocking), where does it go (so that a local close can be charged to that
/// destination's port budget), and how to close it. The close primitives are
/// small on purpose; the pool composes them into its [close
/// policies](crate::ClosePolicy).
///
/// It is implemented for [`tokio::net::TcpStream`]. A wrapper around a
/// protocol client (a hyper `SendRequest` and the task driving its connection,
/// say) implements it by answering from that client's own view of the
/// connection.
pub trait Connection: Send + Sized + 'static {
    /// Says, without blocking and without consuming data, whether the
    /// connection can be lent again. Called before a connection is lent
    /// again (out of the idle set or handed to a waiter), and when a
    /// connection cut off mid-exchange comes back, to tell the peer's close
    /// from the cut.
    fn health(&mut self) -> Health;

    /// The destination whose local ports this connection ties up: the peer
    /// address and the local IP. `None` when the connection does not know;
    /// then its local closes are counted in stats but not in the ledger.
    fn destination(&self) -> Option<Destination>;

    /// Resolves when the peer has closed its side: a FIN (read returns 0), or
    /// a reset. Data that arrives first is read and discarded.
    ///
    /// The pool awaits this, bounded by its grace period, before it drops its
    /// own side under [`ClosePolicy::PeerFirst`](crate::ClosePolicy::PeerFirst),
    /// so that its close is a passive one and TIME_WAIT lands on the peer.
    fn peer_close(&mut self) -> impl Future<Output = io::Result<PeerClose>> + Send + '_;

    /// An idle limit the peer announced for this connection (an HTTP
    /// server's `Keep-Alive: timeout=N`, less a margin so that its close
    /// never races a new request): once idle this long the pool stops
    /// lending it, even if its reaper runs late, and retires it by waiting
    /// for the peer's close. The pool's own limits still apply; the earlier
    /// wins. Asked at each check-in. `None` (the default): none announced.
    fn peer_idle_limit(&self) -> Option<Duration> {
        None
    }

    /// How many more uses the peer allows on this connection, the next one
    /// included (an HTTP server's `Keep-Alive: max=M`). `Some(1)`: the next
    /// lease is the last ([`Pooled::is_final_use`](crate::Pooled::is_final_use)
    /// says so); `Some(0)`: none, and the connection is retired at check-in.
    /// `None` (the default): no limit announced.
    fn remaining_uses(&self) -> Option<u64> {
        None
    }

    /// Closes the connection now, from this side: a FIN goes out first, and
    /// this side keeps the TIME_WAIT entry (unless the peer's FIN arrived
    /// already).
    fn close(self);

    /// Aborts the connection: a RST, and nobody keeps TIME_WAIT. See
    /// [`ClosePolicy::Abort`](crate::ClosePolicy::Abort) for the dangers.
    fn abort(self);
}

/// The answer of [`Connection::health`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Health {
    /// Nothing happened on the connection since it was last used: it can be
    /// lent.
    Usable,
    /// The peer closed its side (a FIN is waiting to be read). The connection
    /// can only be closed now, and closing it is a passive close.
    PeerClosed,
    /// The peer reset the connection.
    PeerReset,
    /// Bytes arrived that nobody asked for (an HTTP server's `408`, say): the
    /// protocol state is unknown, so the connection is not lent again.
    UnexpectedData,
    /// The socket reported another error.
    Broken(io::Error),
}

impl Health {
    /// Whether the peer has already ended the connection (FIN or RST).
    pub fn peer_ended(&self) -> bool {
        matches!(self, Health::PeerClosed | Health::PeerReset)
    }
}

/// How the peer ended a connection, as seen by [`Connection::peer_close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerClose {
    /// The peer sent its FIN: an orderly close, TIME_WAIT on the peer.
    Fin,
    /// The peer sent a RST: nobody keeps TIME_WAIT.
    Reset,
}
