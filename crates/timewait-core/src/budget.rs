//! The ephemeral port budget toward one destination, and whether a new
//! connection fits in it now.
//!
//! # Why there is a budget
//!
//! Every connection a client opens takes a local port from the ephemeral
//! range (`net.ipv4.ip_local_port_range`, minus
//! `net.ipv4.ip_local_reserved_ports`). Toward one destination (remote
//! address and port, from one local IP) each port carries one connection at
//! a time, and a connection this side closed first keeps its port for the
//! whole TIME_WAIT (2×MSL, 60 s on Linux). So toward one destination:
//!
//! - at most [`usable_ports`](PortBudget::usable_ports) connections can be
//!   open or in TIME_WAIT at once, and
//! - if every close lands here, new connections can be opened at about
//!   [`sustained_rate`](PortBudget::sustained_rate) per second (ports ÷
//!   TIME_WAIT length: 28,232 ÷ 60 s ≈ 470 per second with Linux defaults).
//!
//! Past that, `connect()` fails with EADDRNOTAVAIL. [`PortBudget::admit`]
//! answers before the kernel does: go, wait until a TIME_WAIT entry ends, or
//! saturated by open connections.
//!
//! Ports are counted per destination: a port in TIME_WAIT toward one server is
//! still free toward another.

mod range;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::DEFAULT_TIME_WAIT;
use crate::ledger::TimeWaitUsage;

pub use range::{PortRange, PortRangeError, ReservedPorts};

/// What the ephemeral ports allow toward one destination: the range, the
/// reserved ports taken out of it, and how long a TIME_WAIT entry holds one.
///
/// ```
/// use std::time::Duration;
/// use timewait_core::budget::{PortBudget, PortRange};
///
/// let budget = PortBudget::new(PortRange::LINUX_DEFAULT);
/// assert_eq!(budget.usable_ports(), 28_232);
/// assert_eq!(budget.time_wait(), Duration::from_secs(60));
/// assert!((budget.sustained_rate() - 470.53).abs() < 0.01);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PortBudget {
    range: PortRange,
    reserved: ReservedPorts,
    /// Never zero.
    time_wait: Duration,
}

/// The budget's answer to "may I open one more connection toward this
/// destination?".
///
/// `in_use` and the [`TimeWaitUsage`] passed to [`PortBudget::admit`] were
/// taken at some `now`; the answer holds for that `now`.
#[must_use = "an admission says whether to connect, wait, or give up"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A port is free: open connections plus live TIME_WAIT entries are
    /// fewer than the usable ports.
    Go,
    /// Every port is spent, some of them by TIME_WAIT entries; the earliest
    /// ends at this instant, when the answer can change. Ask again then
    /// (another port may be needed if more than one was overspent).
    WaitUntil(Instant),
    /// Every port is spent by open connections alone, or there are no usable
    /// ports at all: nothing in TIME_WAIT will free one. A port frees only
    /// when a connection closes.
    Saturated,
}

/// Why a [`PortBudget`] could not be configured.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The TIME_WAIT length was zero.
    #[error(
        "the TIME_WAIT length must be longer than zero: use 60 s as Linux does, or 240 s for RFC 9293's MSL of 2 min"
    )]
    ZeroTimeWait,
}

impl PortBudget {
    /// A budget over `range`, with no reserved ports and Linux's TIME_WAIT
    /// length, [`DEFAULT_TIME_WAIT`].
    pub fn new(range: PortRange) -> Self {
        PortBudget {
            range,
            reserved: ReservedPorts::new(),
            time_wait: DEFAULT_TIME_WAIT,
        }
    }

    /// The same budget with `reserved` taken out of its range. Reserved ports
    /// outside the range are ignored.
    ///
    /// ```
    /// use timewait_core::budget::{PortBudget, PortRange, ReservedPorts};
    ///
    /// let reserved: ReservedPorts = [PortRange::new(32000, 32777).unwrap()].into_iter().collect();
    /// let budget = PortBudget::new(PortRange::LINUX_DEFAULT).with_reserved(reserved);
    /// assert_eq!(budget.usable_ports(), 28_232 - 10);
    /// ```
    #[must_use]
    pub fn with_reserved(self, reserved: ReservedPorts) -> Self {
        PortBudget { reserved, ..self }
    }

    /// The same budget with TIME_WAIT lasting `time_wait`; zero is refused.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timewait_core::budget::{BudgetError, PortBudget, PortRange};
    ///
    /// let rfc = PortBudget::new(PortRange::LINUX_DEFAULT)
    ///     .with_time_wait(Duration::from_secs(240))
    ///     .unwrap();
    /// assert!((rfc.sustained_rate() - 117.63).abs() < 0.01);
    ///
    /// let zero = PortBudget::new(PortRange::LINUX_DEFAULT).with_time_wait(Duration::ZERO);
    /// assert_eq!(zero, Err(BudgetError::ZeroTimeWait));
    /// ```
    pub fn with_time_wait(self, time_wait: Duration) -> Result<Self, BudgetError> {
        if time_wait.is_zero() {
            return Err(BudgetError::ZeroTimeWait);
        }
        Ok(PortBudget { time_wait, ..self })
    }

    /// The ephemeral range.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// The reserved ports (possibly reaching outside the range).
    pub fn reserved(&self) -> &ReservedPorts {
        &self.reserved
    }

    /// How long a TIME_WAIT entry holds its port.
    pub fn time_wait(&self) -> Duration {
        self.time_wait
    }

    /// Ports a connection toward one destination can get: the range minus
    /// the reserved ports inside it. Zero when every port is reserved.
    pub fn usable_ports(&self) -> u32 {
        self.range
            .len()
            .saturating_sub(self.reserved.count_within(self.range))
    }

    /// New connections per second that one destination can sustain when
    /// every close leaves TIME_WAIT here: usable ports ÷ TIME_WAIT seconds.
    pub fn sustained_rate(&self) -> f64 {
        f64::from(self.usable_ports()) / self.time_wait.as_secs_f64()
    }

    /// Whether one more connection toward a destination fits, given the
    /// connections open toward it (`in_use`) and its TIME_WAIT entries
    /// (from [`TimeWaitLedger::usage`](crate::ledger::TimeWaitLedger::usage)).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use timewait_core::budget::{Admission, PortBudget, PortRange};
    /// use timewait_core::ledger::{Destination, TimeWaitLedger};
    ///
    /// let budget = PortBudget::new(PortRange::new(40000, 40001).unwrap()); // 2 ports
    /// let dest = Destination::new("127.0.0.1:80".parse().unwrap());
    /// let mut ledger = TimeWaitLedger::new(budget.time_wait());
    /// let now = Instant::now();
    ///
    /// assert_eq!(budget.admit(1, ledger.usage(&dest, now)), Admission::Go);
    /// let end = ledger.record(dest, now);
    /// assert_eq!(budget.admit(1, ledger.usage(&dest, now)), Admission::WaitUntil(end));
    /// assert_eq!(budget.admit(2, ledger.usage(&dest, now)), Admission::Saturated);
    /// ```
    pub fn admit(&self, in_use: usize, time_wait: TimeWaitUsage) -> Admission {
        // u32 always fits in usize on the 32- and 64-bit targets Rust's std
        // supports for networking; saturate anyway rather than assume.
        let usable = usize::try_from(self.usable_ports()).unwrap_or(usize::MAX);
        if in_use.saturating_add(time_wait.live) < usable {
            Admission::Go
        } else if in_use >= usable {
            Admission::Saturated
        } else {
            match time_wait.next_release {
                Some(at) => Admission::WaitUntil(at),
                // Inconsistent usage (live entries without an end): nothing
                // known to wait for.
                None => Admission::Saturated,
            }
        }
    }
}

impl Default for PortBudget {
    /// [`PortRange::LINUX_DEFAULT`], nothing reserved, [`DEFAULT_TIME_WAIT`].
    fn default() -> Self {
        PortBudget::new(PortRange::LINUX_DEFAULT)
    }
}

/// `net.ipv4.tcp_tw_reuse`: whether `connect()` may take a local port that
/// one of its own connections holds in TIME_WAIT toward the same destination.
///
/// Reuse needs TCP timestamps on that old connection (`net.ipv4.tcp_timestamps`,
/// on by default, and the peer's agreement): the new connection's timestamps
/// must be newer than the last one seen, which is what keeps an old segment
/// from being taken for a new one. Linux also waits `tcp_tw_reuse_delay`
/// (1 s by default, Linux 6.13+) after that last timestamp. Only the client's
/// own TIME_WAIT is reused; a server's TIME_WAIT is never in a client's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TwReuse {
    /// `0`: never reuse; every TIME_WAIT holds its port for the full 60 s.
    Disabled,
    /// `1`: reuse toward any destination (needs TCP timestamps).
    Enabled,
    /// `2`: reuse only for loopback traffic (the default since Linux 4.19).
    #[default]
    LoopbackOnly,
}

impl TwReuse {
    /// The sysctl's value.
    pub const fn value(self) -> u8 {
        match self {
            TwReuse::Disabled => 0,
            TwReuse::Enabled => 1,
            TwReuse::LoopbackOnly => 2,
        }
    }

    /// Whether the kernel may reuse the client's own TIME_WAIT ports toward
    /// `ip` (when the timestamps allow it: see the type's documentation).
    /// An IPv4-mapped IPv6 loopback address counts as loopback, as in Linux.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use timewait_core::budget::TwReuse;
    ///
    /// let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// let far = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    /// assert!(TwReuse::LoopbackOnly.reuses_for(lo));
    /// assert!(!TwReuse::LoopbackOnly.reuses_for(far));
    /// assert!(TwReuse::Enabled.reuses_for(far));
    /// assert!(!TwReuse::Disabled.reuses_for(lo));
    /// ```
    pub fn reuses_for(self, ip: IpAddr) -> bool {
        match self {
            TwReuse::Disabled => false,
            TwReuse::Enabled => true,
            TwReuse::LoopbackOnly => ip.to_canonical().is_loopback(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(low: u16, high: u16) -> PortRange {
        PortRange::new(low, high).expect("valid test range")
    }

    fn usage(live: usize, next_release: Option<Instant>) -> TimeWaitUsage {
        TimeWaitUsage { live, next_release }
    }

    #[test]
    fn linux_defaults_give_28_232_ports_and_about_470_connections_per_second() {
        let budget = PortBudget::default();
        assert_eq!(budget.usable_ports(), 28_232);
        assert!((budget.sustained_rate() - 28_232.0 / 60.0).abs() < 1e-9);
        assert_eq!(format!("{:.2}", budget.sustained_rate()), "470.53");
    }

    #[test]
    fn only_reserved_ports_inside_the_range_are_subtracted() {
        let reserved: ReservedPorts = [r(100, 104), r(103, 110), r(195, 300), r(5000, 6000)]
            .into_iter()
            .collect();
        // Range 100-199: 100-110 (11) and 195-199 (5) are reserved inside it.
        let budget = PortBudget::new(r(100, 199)).with_reserved(reserved);
        assert_eq!(budget.usable_ports(), 100 - 11 - 5);
        assert_eq!(budget.reserved().ranges().len(), 3);
    }

    #[test]
    fn a_fully_reserved_range_has_no_usable_ports_and_is_always_saturated() {
        let all: ReservedPorts = [r(1, u16::MAX)].into_iter().collect();
        let budget = PortBudget::new(r(40000, 40009)).with_reserved(all);
        assert_eq!(budget.usable_ports(), 0);
        assert_eq!(budget.sustained_rate(), 0.0);
        assert_eq!(budget.admit(0, usage(0, None)), Admission::Saturated);
        let at = Instant::now();
        assert_eq!(budget.admit(0, usage(1, Some(at))), Admission::Saturated);
    }

    #[test]
    fn admission_goes_waits_or_saturates_by_who_holds_the_ports() {
        let budget = PortBudget::new(r(40000, 40002)); // 3 ports
        let at = Instant::now();
        assert_eq!(budget.admit(0, usage(0, None)), Admission::Go);
        assert_eq!(budget.admit(1, usage(1, Some(at))), Admission::Go);
        assert_eq!(
            budget.admit(1, usage(2, Some(at))),
            Admission::WaitUntil(at)
        );
        assert_eq!(
            budget.admit(0, usage(5, Some(at))),
            Admission::WaitUntil(at)
        );
        // TIME_WAIT entries do not matter once open connections fill the range.
        assert_eq!(budget.admit(3, usage(2, Some(at))), Admission::Saturated);
        assert_eq!(budget.admit(3, usage(0, None)), Admission::Saturated);
        assert_eq!(
            budget.admit(usize::MAX, usage(usize::MAX, None)),
            Admission::Saturated
        );
    }

    #[test]
    fn a_zero_time_wait_is_refused_with_a_fix_in_the_message() {
        let err = PortBudget::default().with_time_wait(Duration::ZERO);
        assert_eq!(err, Err(BudgetError::ZeroTimeWait));
        let message = BudgetError::ZeroTimeWait.to_string();
        assert!(message.contains("60 s") && message.starts_with("the TIME_WAIT length"));
    }

    #[test]
    fn the_time_wait_length_scales_the_sustained_rate() {
        let long = PortBudget::default()
            .with_time_wait(Duration::from_secs(240))
            .expect("non-zero");
        assert_eq!(long.time_wait(), Duration::from_secs(240));
        assert!(
            (long.sustained_rate() * 4.0 - PortBudget::default().sustained_rate()).abs() < 1e-9
        );
        assert_eq!(long.range(), PortRange::LINUX_DEFAULT);
    }
}
