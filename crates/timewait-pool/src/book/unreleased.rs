//! A warning for a key whose leases mostly end without a release: each such
//! lease costs a connection (and, under the default fallback, a TIME_WAIT
//! entry here), and nothing else would say why reuse is lost.

use std::fmt::Debug;
use std::time::Duration;

use tokio::time::Instant;

use crate::stats::Activity;

/// How many leases a window spans before it is judged.
const WINDOW: u64 = 32;

/// At most one warning per key in this long.
const QUIET: Duration = Duration::from_secs(60);

/// One key's window of leases, judged at each unreleased retirement: costs
/// nothing on the release path.
#[derive(Debug, Default)]
pub(crate) struct UnreleasedWatch {
    /// The key's leases started (connects and reuses) when the window
    /// opened.
    leases_at: u64,
    /// Its unreleased retirements when the window opened.
    unreleased_at: u64,
    warned: Option<Instant>,
}

/// What to warn about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Warning {
    pub(crate) unreleased: u64,
    pub(crate) leases: u64,
}

impl UnreleasedWatch {
    /// Called after an unreleased retirement is counted in `activity`:
    /// once a window of leases has passed, says whether most of them ended
    /// unreleased, at most once per [`QUIET`].
    pub(crate) fn check(&mut self, activity: &Activity, now: Instant) -> Option<Warning> {
        let leases_now = activity.connects + activity.reuses;
        let unreleased_now = activity.reasons.unreleased;
        let leases = leases_now.saturating_sub(self.leases_at);
        if leases < WINDOW {
            return None;
        }
        let unreleased = unreleased_now.saturating_sub(self.unreleased_at);
        self.leases_at = leases_now;
        self.unreleased_at = unreleased_now;
        if unreleased * 2 <= leases {
            return None;
        }
        if self
            .warned
            .is_some_and(|t| now.saturating_duration_since(t) < QUIET)
        {
            return None;
        }
        self.warned = Some(now);
        Some(Warning { unreleased, leases })
    }
}

impl Warning {
    pub(crate) fn log(self, key: &impl Debug) {
        tracing::warn!(
            key = ?key,
            unreleased = self.unreleased,
            leases = self.leases,
            "most leases of this key ended without a release, so their connections were closed \
             instead of reused: call `Pooled::release()` once an exchange is complete"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(leases: u64, unreleased: u64) -> Activity {
        let mut activity = Activity {
            connects: leases,
            ..Activity::default()
        };
        activity.reasons.unreleased = unreleased;
        activity
    }

    #[test]
    fn a_window_mostly_unreleased_warns_once_per_quiet_period() {
        let mut watch = UnreleasedWatch::default();
        let start = Instant::now();
        assert_eq!(
            watch.check(&activity(10, 10), start),
            None,
            "window not full"
        );
        let warning = watch.check(&activity(40, 30), start);
        assert_eq!(
            warning,
            Some(Warning {
                unreleased: 30,
                leases: 40
            })
        );
        // The next full window is as bad, but within the quiet period.
        assert_eq!(watch.check(&activity(80, 70), start + QUIET / 2), None);
        assert!(watch.check(&activity(120, 110), start + QUIET).is_some());
    }

    #[test]
    fn a_window_mostly_released_does_not_warn() {
        let mut watch = UnreleasedWatch::default();
        let now = Instant::now();
        assert_eq!(watch.check(&activity(64, 32), now), None);
        // That window is spent: the next one starts from it.
        assert_eq!(watch.check(&activity(70, 38), now), None);
    }
}
