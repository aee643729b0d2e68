//! TIME_WAIT entries per destination, each ending exactly 2×MSL after its close.
//!
//! # Why count them
//!
//! When this host closes a connection first, the kernel keeps the socket in
//! TIME_WAIT for 2×MSL (60 s on Linux). For that whole time the four-tuple is
//! taken: the local port cannot be used again toward the *same* remote
//! address and port (it stays free toward every other destination). A client
//! that opens and closes connections to one server therefore spends one
//! ephemeral port per close, and gets them back only as the entries expire.
//! Once the range is spent, `connect()` fails with EADDRNOTAVAIL.
//!
//! [`TimeWaitLedger`] keeps the book the kernel does not expose cheaply: for
//! each [`Destination`], when each of our TIME_WAIT entries ends. The
//! [`budget`](crate::budget) module turns those counts into an answer to
//! "may I connect now, or when?".
//!
//! # Time
//!
//! The ledger reads no clock. Every query takes `now`, and
//! [`next_expiry`](TimeWaitLedger::next_expiry) says when the next entry ends,
//! so a caller can sleep until then and call
//! [`expire`](TimeWaitLedger::expire) (the shape of quinn-proto's
//! `poll_timeout`). An entry recorded at `t` is live while `now < t + 2MSL`
//! and gone at exactly `t + 2MSL`, not a tick earlier or later.

use std::collections::VecDeque;
use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::DEFAULT_TIME_WAIT;

/// Where a connection went: the remote address and port, and the local IP it
/// was bound to, if the caller chose one.
///
/// A TIME_WAIT entry ties its local port to this pair only: with a different
/// remote address, remote port or local IP the port is free again.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr, SocketAddr};
/// use timewait_core::ledger::Destination;
///
/// let remote: SocketAddr = "127.0.0.1:80".parse().unwrap();
/// let dest = Destination::new(remote);
/// assert_eq!(dest.to_string(), "127.0.0.1:80");
///
/// let bound = dest.with_local_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
/// assert_eq!(bound.to_string(), "127.0.0.1:80 from 10.0.0.2");
/// assert_ne!(dest, bound);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The local address the connection was bound to; `None` when the kernel
    /// chose it.
    pub local_ip: Option<IpAddr>,
}

/// How many TIME_WAIT entries toward one destination are live at some `now`,
/// and when the first of them ends.
///
/// ```
/// use std::time::{Duration, Instant};
/// use timewait_core::ledger::{Destination, TimeWaitLedger};
///
/// let dest = Destination::new("127.0.0.1:80".parse().unwrap());
/// let mut ledger = TimeWaitLedger::new(Duration::from_secs(60));
/// let t0 = Instant::now();
/// let end = ledger.record(dest, t0);
///
/// let usage = ledger.usage(&dest, t0);
/// assert_eq!(usage.live, 1);
/// assert_eq!(usage.next_release, Some(end));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWaitUsage {
    /// Entries still in TIME_WAIT (their end is after `now`).
    pub live: usize,
    /// When the earliest live entry ends, freeing one port; `None` when none
    /// is live.
    pub next_release: Option<Instant>,
}

/// Counters over a ledger's whole life.
///
/// `recorded - expired` is the number of entries the ledger still holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Entries ever recorded.
    pub recorded: u64,
    /// Entries dropped by [`TimeWaitLedger::expire`] (or by the expiry that
    /// [`TimeWaitLedger::record`] does first).
    pub expired: u64,
}

/// The TIME_WAIT entries this host holds, per [`Destination`], with their end
/// instants.
///
/// Recording and expiring are amortised O(1); a query about one destination
/// is O(log n) in that destination's entries and takes `&self`, because
/// entries that ended but were not yet [`expire`](Self::expire)d are skipped
/// by binary search. Memory follows the live entries: a destination whose
/// last entry expires is removed, and buffers shrink when they are mostly
/// empty.
///
/// ```
/// use std::time::{Duration, Instant};
/// use timewait_core::ledger::{Destination, TimeWaitLedger};
///
/// let dest = Destination::new("192.0.2.7:443".parse().unwrap());
/// let mut ledger = TimeWaitLedger::default(); // 60 s, as Linux
/// let t0 = Instant::now();
///
/// let end = ledger.record(dest, t0);
/// assert_eq!(end, t0 + Duration::from_secs(60));
/// assert_eq!(ledger.next_expiry(), Some(end));
///
/// // Live until the very end, gone at it.
/// assert_eq!(ledger.live(&dest, end - Duration::from_nanos(1)), 1);
/// assert_eq!(ledger.live(&dest, end), 0);
///
/// assert_eq!(ledger.expire(end), 1);
/// assert_eq!(ledger.destinations(), 0);
/// assert_eq!(ledger.next_expiry(), None);
/// ```
#[derive(Debug, Clone)]
pub struct TimeWaitLedger {
    time_wait: Duration,
    /// End instants per destination, ascending. Never holds an empty deque.
    by_dest: HashMap<Destination, VecDeque<Instant>>,
    /// Every entry held, ascending by end: the expiry queue.
    queue: VecDeque<(Instant, Destination)>,
    totals: LedgerTotals,
}

impl Destination {
    /// A destination reached from whatever local IP the kernel picks.
    pub const fn new(remote: SocketAddr) -> Self {
        Destination {
            remote,
            local_ip: None,
        }
    }

    /// The same destination, reached from the local IP `ip`.
    #[must_use]
    pub const fn with_local_ip(self, ip: IpAddr) -> Self {
        Destination {
            remote: self.remote,
            local_ip: Some(ip),
        }
    }
}

impl From<SocketAddr> for Destination {
    fn from(remote: SocketAddr) -> Self {
        Destination::new(remote)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local_ip {
            Some(local) => write!(f, "{} from {}", self.remote, local),
            None => write!(f, "{}", self.remote),
        }
    }
}

impl TimeWaitLedger {
    /// An empty ledger whose entries last `time_wait` (2×MSL).
    ///
    /// A zero length is accepted: every entry then ends at the instant it is
    /// recorded and is never live.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timewait_core::ledger::TimeWaitLedger;
    ///
    /// // RFC 793's MSL of 2 min.
    /// let ledger = TimeWaitLedger::new(Duration::from_secs(240));
    /// assert_eq!(ledger.time_wait(), Duration::from_secs(240));
    /// ```
    pub fn new(time_wait: Duration) -> Self {
        TimeWaitLedger {
            time_wait,
            by_dest: HashMap::new(),
            queue: VecDeque::new(),
            totals: LedgerTotals::default(),
        }
    }

    /// How long each entry lasts.
    pub fn time_wait(&self) -> Duration {
        self.time_wait
    }

    /// Records that a connection toward `dest` entered TIME_WAIT at `at`, and
    /// returns when that entry ends (`at + time_wait`, or the latest instant
    /// the platform can represent if that overflows).
    ///
    /// Entries that ended by `at` are expired first, as by
    /// [`expire(at)`](Self::expire).
    ///
    /// `at` need not be the latest instant seen: tasks that read the clock
    /// concurrently can report slightly out of order. Such an entry is put in
    /// its sorted place by a scan from the newest end, so recording is
    /// amortised O(1) for input that is sorted or nearly so, and O(k) for an
    /// entry that lands k places from the back.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use timewait_core::ledger::{Destination, TimeWaitLedger};
    ///
    /// let dest = Destination::new("127.0.0.1:6379".parse().unwrap());
    /// let mut ledger = TimeWaitLedger::new(Duration::from_secs(60));
    /// let t0 = Instant::now();
    ///
    /// ledger.record(dest, t0 + Duration::from_secs(2));
    /// ledger.record(dest, t0); // late report of an earlier close
    /// let later = t0 + Duration::from_secs(1);
    /// assert_eq!(ledger.next_release(&dest, later), Some(t0 + Duration::from_secs(60)));
    /// ```
    pub fn record(&mut self, dest: Destination, at: Instant) -> Instant {
        let end = saturating_add(at, self.time_wait);
        match self.by_dest.entry(dest) {
            Entry::Occupied(mut slot) => insert_sorted(slot.get_mut(), end, |e| *e),
            Entry::Vacant(slot) => {
                slot.insert(VecDeque::from([end]));
            }
        }
        insert_sorted(&mut self.queue, (end, dest), |(e, _)| *e);
        self.totals.recorded = self.totals.recorded.saturating_add(1);
        self.expire(at);
        end
    }

    /// Drops every entry that ended by `now` (its end `<= now`) and returns
    /// how many were dropped.
    ///
    /// Destinations left without entries are removed and oversized buffers
    /// shrink, so memory follows what is live. Each entry is dropped once, so
    /// the cost is amortised O(1) per recorded entry.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use timewait_core::ledger::{Destination, TimeWaitLedger};
    ///
    /// let dest = Destination::new("127.0.0.1:80".parse().unwrap());
    /// let mut ledger = TimeWaitLedger::new(Duration::from_secs(60));
    /// let t0 = Instant::now();
    /// ledger.record(dest, t0);
    /// ledger.record(dest, t0 + Duration::from_secs(1));
    ///
    /// assert_eq!(ledger.expire(t0 + Duration::from_secs(60)), 1);
    /// assert_eq!(ledger.destinations(), 1);
    /// assert_eq!(ledger.expire(t0 + Duration::from_secs(61)), 1);
    /// assert_eq!(ledger.destinations(), 0);
    /// ```
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        while let Some(&(end, dest)) = self.queue.front() {
            if end > now {
                break;
            }
            self.queue.pop_front();
            dropped += 1;
            // The queue's front is the earliest end of all, hence the earliest
            // of `dest`'s own ends: it is the front of `dest`'s deque.
            if let Entry::Occupied(mut slot) = self.by_dest.entry(dest) {
                let ends = slot.get_mut();
                debug_assert_eq!(ends.front(), Some(&end));
                ends.pop_front();
                if ends.is_empty() {
                    slot.remove();
                } else {
                    shrink_if_sparse(ends);
                }
            }
        }
        if dropped > 0 {
            shrink_if_sparse(&mut self.queue);
            if self.by_dest.capacity() > SHRINK_FLOOR
                && self.by_dest.capacity() / 4 > self.by_dest.len()
            {
                self.by_dest.shrink_to(self.by_dest.len() * 2);
            }
        }
        self.totals.expired = self.totals.expired.saturating_add(dropped as u64);
        dropped
    }

    /// How many entries toward `dest` are live at `now` (end after `now`).
    pub fn live(&self, dest: &Destination, now: Instant) -> usize {
        self.by_dest
            .get(dest)
            .map_or(0, |ends| ends.len() - ended_by(ends, now))
    }

    /// The live count and the next release toward `dest` at `now`.
    pub fn usage(&self, dest: &Destination, now: Instant) -> TimeWaitUsage {
        match self.by_dest.get(dest) {
            Some(ends) => {
                let ended = ended_by(ends, now);
                TimeWaitUsage {
                    live: ends.len() - ended,
                    next_release: ends.get(ended).copied(),
                }
            }
            None => TimeWaitUsage {
                live: 0,
                next_release: None,
            },
        }
    }

    /// When the earliest entry toward `dest` that is live at `now` ends.
    pub fn next_release(&self, dest: &Destination, now: Instant) -> Option<Instant> {
        self.by_dest
            .get(dest)
            .and_then(|ends| ends.get(ended_by(ends, now)).copied())
    }

    /// The earliest end of any entry still held, live or ended but not yet
    /// expired: when to call [`expire`](Self::expire) next. `None` when the
    /// ledger is empty.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use timewait_core::ledger::{Destination, TimeWaitLedger};
    ///
    /// let mut ledger = TimeWaitLedger::new(Duration::from_secs(60));
    /// let t0 = Instant::now();
    /// ledger.record(Destination::new("10.0.0.1:80".parse().unwrap()), t0 + Duration::from_secs(5));
    /// ledger.record(Destination::new("10.0.0.2:80".parse().unwrap()), t0);
    /// assert_eq!(ledger.next_expiry(), Some(t0 + Duration::from_secs(60)));
    /// ```
    pub fn next_expiry(&self) -> Option<Instant> {
        self.queue.front().map(|&(end, _)| end)
    }

    /// How many entries, toward all destinations, are live at `now`.
    pub fn total_live(&self, now: Instant) -> usize {
        self.queue.len() - self.queue.partition_point(|&(end, _)| end <= now)
    }

    /// How many entries the ledger holds: live ones, and ended ones not yet
    /// expired.
    pub fn held(&self) -> usize {
        self.queue.len()
    }

    /// How many destinations hold at least one entry not yet expired.
    pub fn destinations(&self) -> usize {
        self.by_dest.len()
    }

    /// Counts of entries recorded and expired so far.
    pub fn totals(&self) -> LedgerTotals {
        self.totals
    }

    /// Each destination with at least one entry live at `now`, with its
    /// usage, in no particular order.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use timewait_core::ledger::{Destination, TimeWaitLedger};
    ///
    /// let dest = Destination::new("127.0.0.1:80".parse().unwrap());
    /// let mut ledger = TimeWaitLedger::new(Duration::from_secs(60));
    /// let t0 = Instant::now();
    /// ledger.record(dest, t0);
    ///
    /// let live: Vec<_> = ledger.iter(t0).map(|(d, u)| (*d, u.live)).collect();
    /// assert_eq!(live, [(dest, 1)]);
    /// assert_eq!(ledger.iter(t0 + Duration::from_secs(60)).count(), 0);
    /// ```
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = (&Destination, TimeWaitUsage)> {
        self.by_dest.iter().filter_map(move |(dest, ends)| {
            let ended = ended_by(ends, now);
            let next_release = ends.get(ended).copied()?;
            Some((
                dest,
                TimeWaitUsage {
                    live: ends.len() - ended,
                    next_release: Some(next_release),
                },
            ))
        })
    }
}

impl Default for TimeWaitLedger {
    /// An empty ledger with Linux's TIME_WAIT length,
    /// [`DEFAULT_TIME_WAIT`].
    fn default() -> Self {
        TimeWaitLedger::new(DEFAULT_TIME_WAIT)
    }
}

/// Buffers at or below this capacity are never shrunk: shrinking them would
/// save little and cost reallocations when they grow again.
const SHRINK_FLOOR: usize = 16;

/// How many of the ascending `ends` ended by `now`.
fn ended_by(ends: &VecDeque<Instant>, now: Instant) -> usize {
    ends.partition_point(|&end| end <= now)
}

/// Inserts `item` into the deque sorted ascending by `key`, after any equal
/// keys, scanning from the back: O(1) when `item` is the newest, O(k) when it
/// belongs k places from the back.
fn insert_sorted<T>(deque: &mut VecDeque<T>, item: T, key: impl Fn(&T) -> Instant) {
    let at = key(&item);
    let mut index = deque.len();
    while index > 0 && deque.get(index - 1).is_some_and(|prev| key(prev) > at) {
        index -= 1;
    }
    deque.insert(index, item);
}

/// Gives memory back once a deque is mostly empty; halving the capacity only
/// after it is four times the length keeps this amortised O(1).
fn shrink_if_sparse<T>(deque: &mut VecDeque<T>) {
    if deque.capacity() > SHRINK_FLOOR && deque.capacity() / 4 > deque.len() {
        deque.shrink_to(deque.len() * 2);
    }
}

/// `at + d`, or the latest instant after `at` that the platform represents
/// when that overflows.
fn saturating_add(at: Instant, d: Duration) -> Instant {
    if let Some(end) = at.checked_add(d) {
        return end;
    }
    // Greedy descent: adds the largest steps that still fit. Invariant after
    // the first failure: `result + 2 * step` overflows, so each step size is
    // added at most once before it halves.
    let mut result = at;
    let mut step = d / 2;
    while !step.is_zero() {
        match result.checked_add(step) {
            Some(later) => result = later,
            None => step /= 2,
        }
    }
    result
}

#[cfg(test)]
mod tests;
