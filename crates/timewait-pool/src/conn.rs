//! A pooled connection with the history the pool keeps of it.

use timewait_core::ledger::Destination;
use tokio::time::Instant;

/// A connection and its history.
#[derive(Debug)]
pub(crate) struct Conn<C> {
    pub(crate) io: C,
    pub(crate) created: Instant,
    pub(crate) uses: u64,
    /// Boxed: read only when the connection is retired, while the
    /// connection moves through every checkout and check-in, where a smaller
    /// `Conn` is a cheaper move.
    pub(crate) destination: Option<Box<Destination>>,
}
