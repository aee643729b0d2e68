//! Port ranges and the reserved ports taken out of them.

use std::fmt;

/// An inclusive range of local ports, as `net.ipv4.ip_local_port_range`
/// gives it: never empty, never including port 0.
///
/// ```
/// use timewait_core::budget::PortRange;
///
/// let range = PortRange::new(40000, 40099).unwrap();
/// assert_eq!(range.len(), 100);
/// assert!(range.contains(40099) && !range.contains(40100));
/// assert_eq!(range.to_string(), "40000-40099");
/// assert_eq!(PortRange::LINUX_DEFAULT.len(), 28_232);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    low: u16,
    high: u16,
}

/// Why a [`PortRange`] could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    /// One end of the range was port 0, which is never a local port.
    #[error("a port range cannot include port 0: use ports from 1 to 65535")]
    ZeroPort,
    /// The low end was above the high end.
    #[error("port range {low}-{high} is inverted: give the lower port first ({high}-{low})")]
    Inverted {
        /// The end given as low.
        low: u16,
        /// The end given as high.
        high: u16,
    },
}

/// Ports kept out of the ephemeral range, as
/// `net.ipv4.ip_local_reserved_ports` lists them: a sorted list of disjoint
/// ranges, where overlapping or adjacent insertions are merged.
///
/// ```
/// use timewait_core::budget::{PortRange, ReservedPorts};
///
/// let reserved: ReservedPorts = [
///     PortRange::new(8080, 8080).unwrap(),
///     PortRange::new(9000, 9010).unwrap(),
///     PortRange::new(9005, 9020).unwrap(),
/// ]
/// .into_iter()
/// .collect();
/// assert_eq!(reserved.ranges().len(), 2);
/// assert!(reserved.contains(9015));
/// assert_eq!(reserved.count_within(PortRange::new(9000, 9999).unwrap()), 21);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedPorts {
    /// Sorted by `low`, disjoint and not adjacent.
    ranges: Vec<PortRange>,
}

impl PortRange {
    /// Linux's default ephemeral range, 32768–60999: 28,232 ports.
    pub const LINUX_DEFAULT: PortRange = PortRange {
        low: 32768,
        high: 60999,
    };

    /// The ports `low..=high`. Both must be non-zero and `low <= high`.
    ///
    /// ```
    /// use timewait_core::budget::{PortRange, PortRangeError};
    ///
    /// assert!(PortRange::new(1024, 1024).is_ok());
    /// assert_eq!(PortRange::new(0, 10), Err(PortRangeError::ZeroPort));
    /// assert_eq!(
    ///     PortRange::new(61000, 32768),
    ///     Err(PortRangeError::Inverted { low: 61000, high: 32768 }),
    /// );
    /// ```
    pub const fn new(low: u16, high: u16) -> Result<Self, PortRangeError> {
        if low == 0 || high == 0 {
            Err(PortRangeError::ZeroPort)
        } else if low > high {
            Err(PortRangeError::Inverted { low, high })
        } else {
            Ok(PortRange { low, high })
        }
    }

    /// The lowest port in the range.
    pub const fn low(&self) -> u16 {
        self.low
    }

    /// The highest port in the range.
    pub const fn high(&self) -> u16 {
        self.high
    }

    /// How many ports the range holds, at least 1.
    pub const fn len(&self) -> u32 {
        self.high as u32 - self.low as u32 + 1
    }

    /// Always `false`: a range holds at least one port. (It exists because a
    /// type with `len` is expected to have it.)
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Whether `port` is in the range.
    pub const fn contains(&self, port: u16) -> bool {
        self.low <= port && port <= self.high
    }

    /// The ports in both ranges, if any.
    ///
    /// ```
    /// use timewait_core::budget::PortRange;
    ///
    /// let a = PortRange::new(100, 200).unwrap();
    /// let b = PortRange::new(150, 300).unwrap();
    /// assert_eq!(a.intersection(b), PortRange::new(150, 200).ok());
    /// assert_eq!(a.intersection(PortRange::new(201, 300).unwrap()), None);
    /// ```
    pub fn intersection(self, other: PortRange) -> Option<PortRange> {
        let low = self.low.max(other.low);
        let high = self.high.min(other.high);
        (low <= high).then_some(PortRange { low, high })
    }
}

impl fmt::Display for PortRange {
    /// `low-high`, as `ip_local_reserved_ports` writes a range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

impl ReservedPorts {
    /// No reserved ports.
    pub const fn new() -> Self {
        ReservedPorts { ranges: Vec::new() }
    }

    /// Reserves the ports of `range`, merging it with any reserved range it
    /// overlaps or touches.
    pub fn insert(&mut self, range: PortRange) {
        // Ranges ending before `range.low - 1` stay before it, those starting
        // after `range.high + 1` stay after it, and the ones between (indices
        // `first..past`) merge into it. The list is sorted by both ends, so
        // `first <= past`. u32 keeps `+ 1` from overflowing at port 65535.
        let first = self
            .ranges
            .partition_point(|r| u32::from(r.high) + 1 < u32::from(range.low));
        let past = self
            .ranges
            .partition_point(|r| u32::from(r.low) <= u32::from(range.high) + 1);
        let mut merged = range;
        if let Some(absorbed) = self.ranges.get(first..past) {
            if let (Some(head), Some(last)) = (absorbed.first(), absorbed.last()) {
                merged.low = merged.low.min(head.low);
                merged.high = merged.high.max(last.high);
            }
        }
        self.ranges.splice(first..past, [merged]);
    }

    /// Whether `port` is reserved.
    pub fn contains(&self, port: u16) -> bool {
        let index = self.ranges.partition_point(|r| r.high < port);
        self.ranges.get(index).is_some_and(|r| r.contains(port))
    }

    /// How many reserved ports lie inside `range`.
    pub fn count_within(&self, range: PortRange) -> u32 {
        let start = self.ranges.partition_point(|r| r.high < range.low);
        self.ranges[start..]
            .iter()
            .map_while(|r| r.intersection(range))
            .map(|r| r.len())
            .sum()
    }

    /// The reserved ranges, sorted, disjoint and not adjacent.
    pub fn ranges(&self) -> &[PortRange] {
        &self.ranges
    }

    /// Whether no port is reserved.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl FromIterator<PortRange> for ReservedPorts {
    fn from_iter<I: IntoIterator<Item = PortRange>>(iter: I) -> Self {
        let mut reserved = ReservedPorts::new();
        reserved.extend(iter);
        reserved
    }
}

impl Extend<PortRange> for ReservedPorts {
    fn extend<I: IntoIterator<Item = PortRange>>(&mut self, iter: I) {
        for range in iter {
            self.insert(range);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(low: u16, high: u16) -> PortRange {
        PortRange::new(low, high).expect("valid test range")
    }

    #[test]
    fn port_zero_and_inverted_ends_are_rejected_with_a_fix_in_the_message() {
        assert_eq!(PortRange::new(0, 0), Err(PortRangeError::ZeroPort));
        assert_eq!(PortRange::new(1, 0), Err(PortRangeError::ZeroPort));
        let inverted = PortRange::new(61000, 32768);
        assert_eq!(
            inverted,
            Err(PortRangeError::Inverted {
                low: 61000,
                high: 32768
            })
        );
        let message = inverted.map(|_| ()).err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("port range 61000-32768 is inverted: give the lower port first (32768-61000)")
        );
    }

    #[test]
    fn lengths_count_both_ends() {
        assert_eq!(r(1, 1).len(), 1);
        assert_eq!(r(1, u16::MAX).len(), 65_535);
        assert_eq!(PortRange::LINUX_DEFAULT.len(), 28_232);
        assert_eq!(PortRange::LINUX_DEFAULT.to_string(), "32768-60999");
        assert!(!r(5, 5).is_empty());
    }

    #[test]
    fn overlapping_and_adjacent_reservations_merge() {
        let mut reserved = ReservedPorts::new();
        reserved.insert(r(100, 110));
        reserved.insert(r(200, 210));
        reserved.insert(r(300, 300));
        assert_eq!(reserved.ranges(), [r(100, 110), r(200, 210), r(300, 300)]);

        // Adjacent on the left, overlapping nothing.
        reserved.insert(r(111, 120));
        assert_eq!(reserved.ranges(), [r(100, 120), r(200, 210), r(300, 300)]);
        // Spanning two ranges and the gap between them.
        reserved.insert(r(205, 299));
        assert_eq!(reserved.ranges(), [r(100, 120), r(200, 300)]);
        // Inside an existing range: no change.
        reserved.insert(r(250, 260));
        assert_eq!(reserved.ranges(), [r(100, 120), r(200, 300)]);
        // Before everything, and covering everything.
        reserved.insert(r(1, 5));
        assert_eq!(reserved.ranges(), [r(1, 5), r(100, 120), r(200, 300)]);
        reserved.insert(r(2, u16::MAX));
        assert_eq!(reserved.ranges(), [r(1, u16::MAX)]);
    }

    #[test]
    fn reserved_ports_are_counted_only_inside_the_range() {
        let reserved: ReservedPorts = [r(30000, 32769), r(40000, 40009), r(60990, 61010)]
            .into_iter()
            .collect();
        // 2 at the low edge, 10 inside, 10 at the high edge.
        assert_eq!(reserved.count_within(PortRange::LINUX_DEFAULT), 22);
        assert_eq!(reserved.count_within(r(1, 29999)), 0);
        assert_eq!(reserved.count_within(r(40005, 40005)), 1);
        assert!(reserved.contains(32769) && !reserved.contains(32770));
        assert!(reserved.contains(61010) && !reserved.contains(61011));
        assert!(!reserved.contains(1));
    }

    #[test]
    fn a_reservation_covering_the_whole_range_counts_every_port() {
        let reserved: ReservedPorts = [r(1, u16::MAX)].into_iter().collect();
        assert_eq!(reserved.count_within(PortRange::LINUX_DEFAULT), 28_232);
        assert!(ReservedPorts::new().is_empty() && !reserved.is_empty());
    }
}
