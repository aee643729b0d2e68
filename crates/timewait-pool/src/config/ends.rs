//! What ends a connection's use or its rest, as the pool's configuration
//! says: the rules a check-in applies, whether the pool or a lease (the
//! fast path, which has no pool at hand) applies them.

use std::time::Duration;

use tokio::time::Instant;

use crate::conn::Conn;
use crate::connection::Connection;

/// What ends a connection's use (its use count, its lifetime), and how long
/// it may rest idle.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ends {
    pub(crate) max_uses: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
    /// The pool's idle limit (see `PoolConfig::idle_limit`).
    pub(crate) idle_limit: Option<Duration>,
    /// Whether a checkout's health check depends on how long the
    /// connection rested (`HealthCheck::IdleFor`), which then needs the
    /// time it came back.
    pub(crate) check_after_rest: bool,
}

impl Ends {
    /// The time a connection comes back, if anything about its rest needs
    /// it: an idle limit (the pool's or its peer's), a lifetime, or a
    /// health check after a rest. Otherwise the clock is not read.
    pub(crate) fn rest_clock<C: Connection>(&self, conn: &Conn<C>) -> Option<Instant> {
        let needed = self.idle_limit.is_some()
            || self.max_lifetime.is_some()
            || self.check_after_rest
            || conn.io.peer_idle_limit().is_some();
        needed.then(Instant::now)
    }

    /// Whether the connection has reached its maximum lifetime.
    pub(crate) fn too_old<C>(&self, conn: &Conn<C>, now: Instant) -> bool {
        self.max_lifetime
            .is_some_and(|life| now.saturating_duration_since(conn.created) >= life)
    }

    /// Whether the connection has served its maximum number of checkouts,
    /// or every use its peer allows.
    pub(crate) fn used_up<C: Connection>(&self, conn: &Conn<C>) -> bool {
        self.max_uses.is_some_and(|max| conn.uses >= max) || conn.io.remaining_uses() == Some(0)
    }

    /// Whether a connection coming back at `now` (from
    /// [`rest_clock`](Self::rest_clock), which reads the clock whenever a
    /// lifetime is set) must be retired rather than rest: used up, or too
    /// old.
    pub(crate) fn spent_at<C: Connection>(&self, conn: &Conn<C>, now: Option<Instant>) -> bool {
        now.is_some_and(|now| self.too_old(conn, now)) || self.used_up(conn)
    }

    /// When an idle connection stops being lent: the pool's idle limit, the
    /// one its peer announced, or its end of life, whichever comes first. A
    /// limit too long to add to an instant is no limit.
    pub(crate) fn idle_deadline<C: Connection>(
        &self,
        conn: &Conn<C>,
        now: Instant,
    ) -> Option<Instant> {
        let limit = match (self.idle_limit, conn.io.peer_idle_limit()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let idle = limit.and_then(|limit| now.checked_add(limit));
        let life = self
            .max_lifetime
            .and_then(|life| conn.created.checked_add(life));
        match (idle, life) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use timewait_core::ledger::Destination;

    use super::*;
    use crate::connection::{Health, PeerClose};

    /// A connection that only says what its peer announced.
    struct Quiet(Option<Duration>);

    impl Connection for Quiet {
        fn health(&mut self) -> Health {
            Health::Usable
        }
        fn destination(&self) -> Option<Destination> {
            None
        }
        async fn peer_close(&mut self) -> io::Result<PeerClose> {
            Ok(PeerClose::Fin)
        }
        fn peer_idle_limit(&self) -> Option<Duration> {
            self.0
        }
        fn close(self) {}
        fn abort(self) {}
    }

    fn conn(peer_idle_limit: Option<Duration>) -> Conn<Quiet> {
        Conn {
            io: Quiet(peer_idle_limit),
            created: Instant::now(),
            uses: 0,
            destination: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_is_read_at_rest_only_when_something_needs_it() {
        let minute = Some(Duration::from_secs(60));
        let none = Ends::default();
        assert_eq!(none.rest_clock(&conn(None)), None);
        let now = Some(Instant::now());
        assert_eq!(none.rest_clock(&conn(minute)), now, "the peer's limit");
        for ends in [
            Ends {
                idle_limit: minute,
                ..none
            },
            Ends {
                max_lifetime: minute,
                ..none
            },
            Ends {
                check_after_rest: true,
                ..none
            },
        ] {
            assert_eq!(ends.rest_clock(&conn(None)), now, "{ends:?}");
        }
        // A use count needs no clock.
        let counted = Ends {
            max_uses: Some(3),
            ..none
        };
        assert_eq!(counted.rest_clock(&conn(None)), None);
    }
}
