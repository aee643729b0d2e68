//! One look at the namespace's sockets, and what changed since the last.
//!
//! A snapshot keeps each TIME_WAIT entry's time left. Between two
//! snapshots, an entry is new when its four-tuple was not there before, or
//! when it has more time left than before: time left only decreases, so
//! more means the four-tuple went through TIME_WAIT again (a new connection
//! reopened it, or a retransmitted FIN restarted the timer, which is rare).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use timewait_core::sys::SocketEntry;
#[cfg(target_os = "linux")]
use timewait_core::{KernelState, TcpState};

/// A connection's two ends: local, then remote.
pub type FourTuple = (SocketAddr, SocketAddr);

/// The sockets `watch` looks at, at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken (the caller's clock).
    pub at: Instant,
    /// Local ports of listening sockets.
    pub listening: BTreeSet<u16>,
    /// TIME_WAIT entries and their time left (`None` when the kernel gave none).
    pub time_wait: HashMap<FourTuple, Option<Duration>>,
    /// Connections that hold a port and are not in TIME_WAIT, and whether
    /// each is ESTABLISHED.
    pub open: Vec<(FourTuple, bool)>,
}

impl Snapshot {
    /// Sorts `entries` into a snapshot taken `at` (Linux: entries come
    /// from the kernel's census).
    #[cfg(target_os = "linux")]
    pub fn from_entries(entries: impl IntoIterator<Item = SocketEntry>, at: Instant) -> Snapshot {
        let entries = entries.into_iter();
        let mut snapshot = Snapshot {
            at,
            listening: BTreeSet::new(),
            // Most entries are TIME_WAIT: one allocation instead of a rehash
            // at every doubling.
            time_wait: HashMap::with_capacity(entries.size_hint().0),
            open: Vec::new(),
        };
        for entry in entries {
            let tuple = (entry.local, entry.remote);
            match entry.state {
                KernelState::Tcp(TcpState::Listen) => {
                    snapshot.listening.insert(entry.local.port());
                }
                KernelState::Tcp(TcpState::TimeWait) => {
                    snapshot
                        .time_wait
                        .insert(tuple, entry.time_wait_remaining());
                }
                KernelState::Tcp(TcpState::Established) => snapshot.open.push((tuple, true)),
                _ => snapshot.open.push((tuple, false)),
            }
        }
        snapshot
    }

    /// Whether `local` is a listening port's end: the server's side.
    pub fn is_server_side(&self, local: SocketAddr) -> bool {
        self.listening.contains(&local.port())
    }

    /// Whether the TIME_WAIT entry `tuple`, with `remaining` left now, was
    /// not in `earlier` (see the module's documentation).
    pub fn is_new_since(
        earlier: &Snapshot,
        tuple: &FourTuple,
        remaining: Option<Duration>,
    ) -> bool {
        match earlier.time_wait.get(tuple) {
            None => true,
            Some(before) => matches!((before, remaining), (Some(b), Some(now)) if now > *b),
        }
    }

    /// Time between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Duration {
        self.at.saturating_duration_since(earlier.at)
    }
}

/// The states a snapshot asks the kernel for: every state that holds a
/// port of a client, and LISTEN; not `SYN_RECV` (a server's half-open
/// connections) nor `CLOSE`.
#[cfg(target_os = "linux")]
pub fn watched_states() -> timewait_core::sys::StateSet {
    [
        TcpState::TimeWait,
        TcpState::Established,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Closing,
    ]
    .into_iter()
    .collect()
}

/// Takes a snapshot of the caller's network namespace: one sock_diag dump
/// per address family, the kernel filtering out the states not in
/// [`watched_states`].
#[cfg(target_os = "linux")]
pub fn take() -> Result<(Snapshot, timewait_core::sys::Source), crate::error::CliError> {
    let report = timewait_core::sys::Census::new()
        .states(watched_states())
        .run()?;
    let source = report.source();
    let at = Instant::now();
    Ok((Snapshot::from_entries(report.into_entries(), at), source))
}
