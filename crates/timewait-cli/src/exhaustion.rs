//! When `connect()` toward one destination starts failing, from the
//! TIME_WAIT entries it holds now (each with its time left) and the rate at
//! which new ones appear.
//!
//! With `open` ports held by open connections, TIME_WAIT entries that end
//! after `r₁ ≤ r₂ ≤ … ≤ rₙ`, and `c` new entries per second, the ports held
//! at `t` seconds from now (for `t` up to the TIME_WAIT length *T*, after
//! which the new entries end as fast as they come) are
//! `open + #{i : rᵢ > t} + c·t`. The first `t` where that reaches the
//! capacity is when `connect()` fails; if it never does by *T*, it never
//! does at this rate.

use std::time::Duration;

/// When ports run out toward one destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exhaustion {
    /// Every port is held now.
    Now,
    /// In this long, at the current rate.
    In(Duration),
    /// Never at the current rate: the steady state fits.
    Never,
}

/// When `open` open connections, TIME_WAIT entries with `remaining` times
/// left and `rate` new entries per second exhaust `capacity` ports, with
/// TIME_WAIT lasting `time_wait`. Sorts `remaining`. A rate that is not a
/// finite positive number counts as zero.
///
/// ```
/// use std::time::Duration;
/// use timewait_cli::exhaustion::{time_to_exhaustion, Exhaustion};
///
/// let tw = Duration::from_secs(60);
/// // 100 ports, nothing held, 10 new entries a second: full in 10 s.
/// assert_eq!(time_to_exhaustion(100, 0, &mut [], 10.0, tw), Exhaustion::In(Duration::from_secs(10)));
/// // 1 per second never fills 100 ports: at most 60 are held.
/// assert_eq!(time_to_exhaustion(100, 0, &mut [], 1.0, tw), Exhaustion::Never);
/// assert_eq!(time_to_exhaustion(1, 1, &mut [], 0.0, tw), Exhaustion::Now);
/// ```
pub fn time_to_exhaustion(
    capacity: u64,
    open: u64,
    remaining: &mut [Duration],
    rate: f64,
    time_wait: Duration,
) -> Exhaustion {
    let rate = if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        0.0
    };
    remaining.sort_unstable();
    let n = remaining.len() as u64;
    if open.saturating_add(n) >= capacity {
        return Exhaustion::Now;
    }
    if rate == 0.0 {
        return Exhaustion::Never;
    }
    let capacity = capacity as f64;
    let end_of_time = time_wait.as_secs_f64();
    let mut start = 0.0_f64;
    // Interval k: after k entries have ended, before the next one ends.
    for k in 0..=remaining.len() {
        let end = remaining
            .get(k)
            .map_or(end_of_time, Duration::as_secs_f64)
            .max(start);
        let held = (open + (n - k as u64)) as f64;
        let t = ((capacity - held) / rate).max(start);
        // Reaching the capacity exactly at T is the steady state filling
        // every port but not overflowing it: `plan` calls that a fit too.
        if t < end {
            return Exhaustion::In(Duration::from_secs_f64(t));
        }
        start = end;
    }
    Exhaustion::Never
}
