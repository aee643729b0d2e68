//! What can go wrong on a framed lease, and how a lease ended.

use std::error::Error;
use std::fmt;

/// Why a request or a response on a [`FramedLease`] failed.
///
/// After any of these but [`NothingOwed`](FramedError::NothingOwed) the
/// lease is unusable: the exchange is cut, its connection is retired when
/// the lease ends, and further calls return
/// [`Unusable`](FramedError::Unusable).
///
/// [`FramedLease`]: crate::framed::FramedLease
#[derive(Debug)]
#[non_exhaustive]
pub enum FramedError<E> {
    /// The codec failed: it could not encode the request or decode the
    /// bytes received, or the connection under it failed (a reset, a
    /// timeout from the kernel), as the codec's error says.
    Codec(E),
    /// The peer closed the connection while responses were still owed:
    /// a server that stopped or crashed, or one that closes after an error.
    Closed {
        /// Responses owed when the connection closed.
        owed: usize,
    },
    /// A response was awaited but none is owed: no request was sent, or
    /// every response was read. The lease stays usable.
    NothingOwed,
    /// An earlier error cut the exchange on this lease.
    Unusable,
}

impl<E> FramedError<E> {
    /// Whether the peer closed the connection with responses owed.
    pub fn is_closed(&self) -> bool {
        matches!(self, FramedError::Closed { .. })
    }

    /// The codec's error, if that is what failed.
    pub fn codec(&self) -> Option<&E> {
        match self {
            FramedError::Codec(error) => Some(error),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for FramedError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramedError::Codec(error) => write!(f, "codec failed: {error}"),
            FramedError::Closed { owed } => write!(
                f,
                "the peer closed the connection with {owed} response(s) owed"
            ),
            FramedError::NothingOwed => f.write_str("no response is owed"),
            FramedError::Unusable => f.write_str("the lease is unusable after an earlier error"),
        }
    }
}

impl<E: Error + 'static> Error for FramedError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FramedError::Codec(error) => Some(error),
            _ => None,
        }
    }
}

/// What [`FramedLease::release`] did with the connection.
///
/// [`FramedLease::release`]: crate::framed::FramedLease::release
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Release {
    /// The exchange was complete and the connection was released to the
    /// pool, which lends it again unless it is due for retirement (its
    /// last use, say, when it says the farewell) or the I/O seen through
    /// the lease overrules the release (see [the lease
    /// contract](crate::Pooled#the-lease-contract)).
    Returned,
    /// The exchange was not complete: the connection was retired as an
    /// unreleased lease is, and never lent again.
    Retired(Unfinished),
}

impl Release {
    /// Whether the connection was handed back to the pool.
    pub fn is_returned(self) -> bool {
        self == Release::Returned
    }
}

/// Why a framed lease's exchange was not complete at its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unfinished {
    /// Responses were still owed.
    ResponsesOwed(usize),
    /// Bytes were received that no response owed accounts for.
    BytesUnread(usize),
    /// Bytes of a request were not yet written to the connection.
    WritesUnflushed(usize),
    /// An earlier error cut the exchange.
    Failed,
}

impl fmt::Display for Unfinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfinished::ResponsesOwed(n) => write!(f, "{n} response(s) still owed"),
            Unfinished::BytesUnread(n) => write!(f, "{n} byte(s) received and not decoded"),
            Unfinished::WritesUnflushed(n) => write!(f, "{n} byte(s) not yet written"),
            Unfinished::Failed => f.write_str("an earlier error cut the exchange"),
        }
    }
}
