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
}

impl Ends {
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

    /// Whether a connection coming back must be retired rather than rest:
    /// used up, or too old (the clock is read only when a lifetime is set).
    pub(crate) fn spent<C: Connection>(&self, conn: &Conn<C>) -> bool {
        let too_old = self.max_lifetime.is_some() && self.too_old(conn, Instant::now());
        too_old || self.used_up(conn)
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
