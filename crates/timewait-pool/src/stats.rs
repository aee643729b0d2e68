//! Snapshots of what the pool holds and has done.

use std::ops::AddAssign;
use std::time::Duration;

use timewait_core::ledger::Destination;

use crate::policy::ClosedBy;

/// How many retired connections each side ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retired {
    /// The peer sent the first FIN: TIME_WAIT on the peer.
    pub by_peer: u64,
    /// The peer reset the connection.
    pub by_peer_reset: u64,
    /// This client sent the first FIN: TIME_WAIT here.
    pub local: u64,
    /// This client aborted with a RST.
    pub aborted: u64,
    /// The kernel ended the connection after the peer stopped answering.
    pub timed_out: u64,
}

impl Retired {
    /// All retired connections.
    pub fn total(&self) -> u64 {
        self.by_peer + self.by_peer_reset + self.local + self.aborted + self.timed_out
    }

    pub(crate) fn count(&mut self, closed_by: ClosedBy) {
        match closed_by {
            ClosedBy::Peer => self.by_peer += 1,
            ClosedBy::PeerReset => self.by_peer_reset += 1,
            ClosedBy::Local => self.local += 1,
            ClosedBy::Abort => self.aborted += 1,
            ClosedBy::TimedOut => self.timed_out += 1,
        }
    }
}

impl AddAssign for Retired {
    fn add_assign(&mut self, other: Retired) {
        self.by_peer += other.by_peer;
        self.by_peer_reset += other.by_peer_reset;
        self.local += other.local;
        self.aborted += other.aborted;
        self.timed_out += other.timed_out;
    }
}

/// Why connections were retired: one count per retirement, by the reason the
/// pool retired it for (who then closed it is in [`Retired`]).
///
/// A pool that loses reuse shows it here: leases dropped without
/// [`release`](crate::Pooled::release) count in
/// [`unreleased`](Self::unreleased), and the pool also logs a warning that
/// names the key when most of a key's leases end that way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetireReasons {
    /// Released at the end of its last use: its use count or its lifetime
    /// was spent.
    pub used_up: u64,
    /// Its lease was dropped without a release: the exchange may have been
    /// left unfinished, so it is never lent again.
    pub unreleased: u64,
    /// Released while a read or write through the lease was left pending
    /// (a cancelled future): an answer may still be on its way.
    pub interrupted: u64,
    /// Marked broken by its borrower, or a read or write failed, or this
    /// side shut its writing half down.
    pub broken: u64,
    /// Its borrower asked ([`Pooled::retire_after_use`](crate::Pooled::retire_after_use)).
    pub requested: u64,
    /// A health check found the peer's FIN.
    pub peer_closed: u64,
    /// The peer reset it (a health check, or a failed read or write).
    pub peer_reset: u64,
    /// The kernel gave up on the peer (`ETIMEDOUT`).
    pub timed_out: u64,
    /// A health check found bytes nobody asked for.
    pub unexpected_data: u64,
    /// It sat idle past its idle limit, keep-alive margin or lifetime.
    pub expired: u64,
    /// Room was needed (idle limit, total cap), or its key was forgotten.
    pub evicted: u64,
    /// The pool shut down.
    pub shutdown: u64,
}

impl RetireReasons {
    /// All retirements.
    pub fn total(&self) -> u64 {
        let RetireReasons {
            used_up,
            unreleased,
            interrupted,
            broken,
            requested,
            peer_closed,
            peer_reset,
            timed_out,
            unexpected_data,
            expired,
            evicted,
            shutdown,
        } = *self;
        used_up
            + unreleased
            + interrupted
            + broken
            + requested
            + peer_closed
            + peer_reset
            + timed_out
            + unexpected_data
            + expired
            + evicted
            + shutdown
    }

    /// The counter of one cause.
    pub(crate) fn counter(&mut self, cause: Cause) -> &mut u64 {
        match cause {
            Cause::UsedUp => &mut self.used_up,
            Cause::Unreleased => &mut self.unreleased,
            Cause::Interrupted => &mut self.interrupted,
            Cause::Broken => &mut self.broken,
            Cause::Requested => &mut self.requested,
            Cause::PeerClosed => &mut self.peer_closed,
            Cause::PeerReset => &mut self.peer_reset,
            Cause::TimedOut => &mut self.timed_out,
            Cause::UnexpectedData => &mut self.unexpected_data,
            Cause::Expired => &mut self.expired,
            Cause::Evicted => &mut self.evicted,
            Cause::Shutdown => &mut self.shutdown,
        }
    }
}

impl AddAssign for RetireReasons {
    fn add_assign(&mut self, mut other: RetireReasons) {
        for cause in Cause::ALL {
            *self.counter(cause) += *other.counter(cause);
        }
    }
}

/// One field of [`RetireReasons`], as the pool counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    UsedUp,
    Unreleased,
    Interrupted,
    Broken,
    Requested,
    PeerClosed,
    PeerReset,
    TimedOut,
    UnexpectedData,
    Expired,
    Evicted,
    Shutdown,
}

impl Cause {
    const ALL: [Cause; 12] = [
        Cause::UsedUp,
        Cause::Unreleased,
        Cause::Interrupted,
        Cause::Broken,
        Cause::Requested,
        Cause::PeerClosed,
        Cause::PeerReset,
        Cause::TimedOut,
        Cause::UnexpectedData,
        Cause::Expired,
        Cause::Evicted,
        Cause::Shutdown,
    ];
}

/// Cumulative counts of a key's (or the pool's) activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Activity {
    /// New connections made.
    pub connects: u64,
    /// Checkouts served by an idle connection.
    pub reuses: u64,
    /// Connects that failed.
    pub connect_errors: u64,
    /// Checkouts that waited for another checkout's connection or slot.
    pub waits: u64,
    /// Checkouts that waited for a TIME_WAIT entry to end before connecting.
    pub budget_waits: u64,
    /// The time those checkouts spent waiting for a port, in all.
    pub budget_wait_time: Duration,
    /// Checkouts that ended in [`Error::Timeout`](crate::Error::Timeout).
    pub timeouts: u64,
    /// Leases released by their borrower ([`Pooled::release`](crate::Pooled::release)).
    pub released: u64,
    /// Connections taken out of the pool for good
    /// ([`Pooled::detach`](crate::Pooled::detach)).
    pub detached: u64,
    /// Connections retired, by who ended them.
    pub retired: Retired,
    /// Connections retired, by why the pool retired them.
    pub reasons: RetireReasons,
}

impl AddAssign for Activity {
    fn add_assign(&mut self, other: Activity) {
        self.connects += other.connects;
        self.reuses += other.reuses;
        self.connect_errors += other.connect_errors;
        self.waits += other.waits;
        self.budget_waits += other.budget_waits;
        self.budget_wait_time += other.budget_wait_time;
        self.timeouts += other.timeouts;
        self.released += other.released;
        self.detached += other.detached;
        self.retired += other.retired;
        self.reasons += other.reasons;
    }
}

/// A snapshot of one key (or of the whole pool).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Open connections: idle, lent and connecting.
    pub open: usize,
    /// Idle connections.
    pub idle: usize,
    /// Connections lent out.
    pub in_use: usize,
    /// Connections being made.
    pub connecting: usize,
    /// Checkouts waiting for a connection of this key.
    pub waiting: usize,
    /// Local TIME_WAIT entries the ledger holds now toward the key's
    /// destination (for the whole pool: toward every destination).
    pub local_time_wait: usize,
    /// What happened so far.
    pub activity: Activity,
}

/// A snapshot of the pool: totals, then each key it remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats<K> {
    /// The whole pool. Its activity includes keys already forgotten.
    pub total: KeyStats,
    /// Connections being retired in the background now.
    pub retiring: usize,
    /// Each remembered key, in no particular order.
    pub keys: Vec<(K, KeyStats)>,
}

impl<K: PartialEq> PoolStats<K> {
    /// The snapshot of one key, if the pool remembers it.
    pub fn key(&self, key: &K) -> Option<&KeyStats> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }
}

/// How a retirement ended, for the pool's counts and ledger.
#[derive(Debug)]
pub(crate) struct Outcome<K> {
    pub(crate) key: K,
    pub(crate) destination: Option<Destination>,
    pub(crate) closed_by: ClosedBy,
    pub(crate) cause: Cause,
}
