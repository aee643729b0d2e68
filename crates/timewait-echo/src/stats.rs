//! What the server counts: connections, lines, and how each connection ended.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// How one connection ended, as the server saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Ending {
    /// The client sent `QUIT`; the server closed first.
    Quit,
    /// The connection was idle past the idle timeout; the server closed first.
    IdleTimeout,
    /// The server was told to hang up (or shut down) and closed first.
    HungUp,
    /// The client closed first (the server read end of file), then the
    /// server closed: TIME_WAIT is on the client.
    ClientClosed,
    /// The client reset the connection.
    Reset,
    /// Any other I/O error, or a line longer than [`MAX_LINE`](crate::MAX_LINE)
    /// (`InvalidData`); the server closed.
    Failed(io::ErrorKind),
}

impl Ending {
    /// Whether the server sent the first FIN, so that TIME_WAIT is its own.
    ///
    /// ```
    /// use timewait_echo::Ending;
    /// assert!(Ending::Quit.server_closed_first());
    /// assert!(!Ending::ClientClosed.server_closed_first());
    /// ```
    pub fn server_closed_first(self) -> bool {
        matches!(self, Ending::Quit | Ending::IdleTimeout | Ending::HungUp)
    }
}

/// A snapshot of a server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EchoStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Lines echoed.
    pub lines: u64,
    /// Connections closed by the server after `QUIT`.
    pub quit: u64,
    /// Connections closed by the server after its idle timeout.
    pub idle_timeout: u64,
    /// Connections closed by the server when told to hang up or shut down.
    pub hung_up: u64,
    /// Connections the client closed first.
    pub client_closed: u64,
    /// Connections the client reset.
    pub reset: u64,
    /// Connections that ended in another error.
    pub failed: u64,
    /// Errors from `accept` (the server goes on accepting).
    pub accept_errors: u64,
}

impl EchoStats {
    /// Connections that have ended, however they ended.
    pub fn ended(&self) -> u64 {
        self.quit + self.idle_timeout + self.hung_up + self.client_closed + self.reset + self.failed
    }

    /// Connections accepted and not yet ended.
    pub fn open(&self) -> u64 {
        self.accepted.saturating_sub(self.ended())
    }

    /// Connections the server closed first: each left a TIME_WAIT entry on
    /// the server, none on the client.
    pub fn closed_first_by_server(&self) -> u64 {
        self.quit + self.idle_timeout + self.hung_up
    }
}

/// The live counters behind [`EchoStats`], shared by the server's tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    lines: AtomicU64,
    quit: AtomicU64,
    idle_timeout: AtomicU64,
    hung_up: AtomicU64,
    client_closed: AtomicU64,
    reset: AtomicU64,
    failed: AtomicU64,
    accept_errors: AtomicU64,
    /// Woken at each ending, for [`EchoHandle::ended`](crate::EchoHandle::ended).
    ended: Notify,
}

impl Counters {
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn line(&self) {
        self.lines.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self, ending: Ending) {
        let counter = match ending {
            Ending::Quit => &self.quit,
            Ending::IdleTimeout => &self.idle_timeout,
            Ending::HungUp => &self.hung_up,
            Ending::ClientClosed => &self.client_closed,
            Ending::Reset => &self.reset,
            Ending::Failed(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Release);
        self.ended.notify_waiters();
    }

    pub(crate) fn snapshot(&self) -> EchoStats {
        let load = |c: &AtomicU64| c.load(Ordering::Acquire);
        EchoStats {
            accepted: load(&self.accepted),
            lines: load(&self.lines),
            quit: load(&self.quit),
            idle_timeout: load(&self.idle_timeout),
            hung_up: load(&self.hung_up),
            client_closed: load(&self.client_closed),
            reset: load(&self.reset),
            failed: load(&self.failed),
            accept_errors: load(&self.accept_errors),
        }
    }

    /// Waits until at least `n` connections have ended.
    pub(crate) async fn wait_ended(&self, n: u64) {
        loop {
            // Registered before the check, so an ending between the check
            // and the wait still wakes it.
            let notified = self.ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.snapshot().ended() >= n {
                return;
            }
            notified.await;
        }
    }
}
