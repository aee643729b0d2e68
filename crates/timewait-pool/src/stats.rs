//! Snapshots of what the pool holds and has done.

use std::ops::AddAssign;

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
    /// Connections retired, by who ended them.
    pub retired: Retired,
}

impl AddAssign for Activity {
    fn add_assign(&mut self, other: Activity) {
        self.connects += other.connects;
        self.reuses += other.reuses;
        self.connect_errors += other.connect_errors;
        self.waits += other.waits;
        self.budget_waits += other.budget_waits;
        self.retired += other.retired;
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
