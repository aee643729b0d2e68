//! What the census reports about one socket, and the set of states it asks for.

use std::fmt;
use std::net::SocketAddr;
use std::ops::BitOr;
use std::time::Duration;

use crate::state::{KernelState, TcpState};

/// One TCP socket of the namespace, as sock_diag or `/proc/net/tcp{,6}`
/// reports it.
///
/// Addresses are canonical: a dual-stack IPv6 socket talking to an IPv4 peer
/// shows `::ffff:a.b.c.d` in the kernel's tables, and is reported here with
/// plain IPv4 addresses, so that one destination is one key whichever socket
/// family reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SocketEntry {
    /// The local address and port.
    pub local: SocketAddr,
    /// The remote address and port (`0.0.0.0:0` or `[::]:0` for a listener).
    pub remote: SocketAddr,
    /// The kernel's state.
    pub state: KernelState,
    /// The socket's pending timer, if one runs.
    pub timer: Option<Timer>,
    /// The owner's user id (0 for TIME_WAIT entries, which have no owner).
    pub uid: u32,
    /// The socket's inode (0 for TIME_WAIT entries, which have no file).
    pub inode: u64,
}

impl SocketEntry {
    /// The TCP state, when the kernel's state is one of RFC 9293's.
    pub fn tcp_state(&self) -> Option<TcpState> {
        self.state.tcp_state()
    }

    /// How long this entry stays in TIME_WAIT: `Some` only for a TIME_WAIT
    /// entry whose TIME_WAIT timer is pending. At most 60 s on Linux.
    pub fn time_wait_remaining(&self) -> Option<Duration> {
        match (self.state, self.timer) {
            (
                KernelState::Tcp(TcpState::TimeWait),
                Some(Timer {
                    kind: TimerKind::TimeWait,
                    remaining,
                }),
            ) => Some(remaining),
            _ => None,
        }
    }
}

/// A socket's pending timer: its kind and the time left until it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Timer {
    /// What the timer is for.
    pub kind: TimerKind,
    /// Time left (zero when the timer is due or overdue).
    pub remaining: Duration,
}

impl Timer {
    /// The timer of kernel code `code` (`idiag_timer`, or the `tr` column of
    /// `/proc/net/tcp`); `None` for code 0, no timer.
    pub(crate) fn from_code(code: u8, remaining: Duration) -> Option<Timer> {
        let kind = match code {
            0 => return None,
            1 => TimerKind::Retransmit,
            2 => TimerKind::KeepAlive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::ZeroWindowProbe,
            other => TimerKind::Other(other),
        };
        Some(Timer { kind, remaining })
    }
}

/// The kinds of timer the kernel reports for a TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimerKind {
    /// `1`: retransmission (or a pending SYN-ACK of a request socket).
    Retransmit,
    /// `2`: keep-alive, or the FIN_WAIT_2 timer of an orphaned socket.
    KeepAlive,
    /// `3`: the TIME_WAIT timer; it removes the entry when it fires.
    TimeWait,
    /// `4`: zero-window probe.
    ZeroWindowProbe,
    /// A code this crate does not know.
    Other(u8),
}

/// A set of kernel socket states, as the bit mask sock_diag takes
/// (`idiag_states`: bit *n* set selects state code *n*).
///
/// ```
/// use timewait_core::{KernelState, TcpState};
/// use timewait_core::sys::StateSet;
///
/// let set = StateSet::only(TcpState::TimeWait) | TcpState::FinWait2;
/// assert!(set.contains(KernelState::Tcp(TcpState::FinWait2)));
/// assert!(!set.contains(KernelState::Tcp(TcpState::Established)));
/// assert_eq!(set.bits(), 1 << 6 | 1 << 5);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateSet(u32);

impl StateSet {
    /// No state at all.
    pub const EMPTY: StateSet = StateSet(0);
    /// Every state, including kernel codes this crate does not know.
    pub const ALL: StateSet = StateSet(u32::MAX);

    /// The set holding only `state`.
    pub const fn only(state: TcpState) -> StateSet {
        StateSet(1 << state.kernel_code())
    }

    /// The set with the kernel mask `bits`.
    pub const fn from_bits(bits: u32) -> StateSet {
        StateSet(bits)
    }

    /// The kernel mask.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// This set and `state`.
    pub const fn with(self, state: TcpState) -> StateSet {
        self.with_kernel(KernelState::Tcp(state))
    }

    /// This set and the kernel state `state` (codes above 31 cannot be
    /// selected one by one: only [`StateSet::ALL`] holds them).
    pub const fn with_kernel(self, state: KernelState) -> StateSet {
        match 1u32.checked_shl(state.code() as u32) {
            Some(bit) => StateSet(self.0 | bit),
            None => self,
        }
    }

    /// Whether `state` is in the set.
    pub const fn contains(self, state: KernelState) -> bool {
        match 1u32.checked_shl(state.code() as u32) {
            Some(bit) => self.0 & bit != 0,
            None => self.0 == u32::MAX,
        }
    }

    /// Whether the set holds no state.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The mask to hand the kernel: a listener's half-open connections
    /// (`NEW_SYN_RECV` request sockets) come with `SYN_RECV`, as in `ss`.
    pub(crate) const fn kernel_mask(self) -> u32 {
        if self.contains(KernelState::Tcp(TcpState::SynReceived)) {
            self.with_kernel(KernelState::NewSynRecv).0
        } else {
            self.0
        }
    }
}

impl BitOr for StateSet {
    type Output = StateSet;

    fn bitor(self, rhs: StateSet) -> StateSet {
        StateSet(self.0 | rhs.0)
    }
}

impl BitOr<TcpState> for StateSet {
    type Output = StateSet;

    fn bitor(self, rhs: TcpState) -> StateSet {
        self.with(rhs)
    }
}

impl From<TcpState> for StateSet {
    fn from(state: TcpState) -> StateSet {
        StateSet::only(state)
    }
}

impl FromIterator<TcpState> for StateSet {
    fn from_iter<I: IntoIterator<Item = TcpState>>(iter: I) -> Self {
        iter.into_iter().fold(StateSet::EMPTY, StateSet::with)
    }
}

impl fmt::Debug for StateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == StateSet::ALL {
            return f.write_str("StateSet(ALL)");
        }
        let codes = (0u8..32).filter(|code| self.0 & (1 << code) != 0);
        f.debug_set()
            .entries(codes.map(|code| Named(KernelState::from_code(code))))
            .finish()
    }
}

/// Debug-prints a state by its kernel name.
struct Named(KernelState);

impl fmt::Debug for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    #[test]
    fn a_state_set_holds_exactly_the_states_put_in_it() {
        let set: StateSet = [TcpState::TimeWait, TcpState::Listen].into_iter().collect();
        for state in TcpState::ALL {
            let expected = matches!(state, TcpState::TimeWait | TcpState::Listen);
            assert_eq!(set.contains(state.into()), expected, "{state}");
        }
        assert!(!set.contains(KernelState::NewSynRecv));
        assert_eq!(format!("{set:?}"), "{TIME_WAIT, LISTEN}");
        assert!(StateSet::EMPTY.is_empty() && !set.is_empty());
    }

    #[test]
    fn all_holds_unknown_codes_and_single_sets_never_do() {
        for code in [0, 13, 31, 32, 200, 255] {
            assert!(
                StateSet::ALL.contains(KernelState::from_code(code)),
                "{code}"
            );
        }
        let unknown = KernelState::Unknown(200);
        assert_eq!(StateSet::EMPTY.with_kernel(unknown), StateSet::EMPTY);
        assert!(!StateSet::only(TcpState::TimeWait).contains(unknown));
    }

    #[test]
    fn syn_recv_brings_new_syn_recv_into_the_kernel_mask() {
        let mask = StateSet::only(TcpState::SynReceived).kernel_mask();
        assert_eq!(mask, 1 << 3 | 1 << 12);
        assert_eq!(StateSet::only(TcpState::TimeWait).kernel_mask(), 1 << 6);
    }

    #[test]
    fn time_wait_remaining_needs_both_the_state_and_the_timer() {
        let timer = Timer::from_code(3, Duration::from_secs(5));
        let mut entry = SocketEntry {
            local: "127.0.0.1:80".parse().unwrap(),
            remote: "127.0.0.1:40000".parse().unwrap(),
            state: TcpState::TimeWait.into(),
            timer,
            uid: 0,
            inode: 0,
        };
        assert_eq!(entry.time_wait_remaining(), Some(Duration::from_secs(5)));
        entry.timer = Timer::from_code(1, Duration::from_secs(5));
        assert_eq!(entry.time_wait_remaining(), None);
        entry.timer = timer;
        entry.state = TcpState::FinWait2.into();
        assert_eq!(entry.time_wait_remaining(), None);
        assert_eq!(Timer::from_code(0, Duration::ZERO), None);
        let other = Timer::from_code(9, Duration::ZERO).map(|t| t.kind);
        assert_eq!(other, Some(TimerKind::Other(9)));
    }
}
