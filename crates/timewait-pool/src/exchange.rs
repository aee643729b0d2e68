//! What a lease saw of the I/O through it: a safety net under the lease
//! contract, which can only retire more.
//!
//! A connection goes back to the idle set only when its borrower releases
//! it ([`Pooled::release`](crate::Pooled::release)): only the protocol knows
//! where an exchange ends. The guard still watches the reads and writes made
//! through it, and a release is overruled when they show the exchange was
//! not over: a read or write left `Pending` (its future was dropped by a
//! timeout or a `select!` half-way, so an answer may still be on its way),
//! an I/O error, or a FIN this side sent. Nothing here ever makes a
//! connection lendable that the borrower did not release. Flags set and
//! cleared on each poll: no system call, no allocation.

use std::io;
use std::task::Poll;

/// The state of the exchange on one lent connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Exchange {
    /// A read returned `Pending` and no read returned `Ready` since.
    read_pending: bool,
    /// A write, flush or shutdown returned `Pending` and none returned
    /// `Ready` since.
    write_pending: bool,
    /// This side shut its writing half down: its FIN went out.
    sent_fin: bool,
    /// What the first read or write error says of the connection.
    failed: Option<Failure>,
}

/// A read or write error, as far as it says who ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// `ECONNRESET`, `ECONNABORTED`: the peer's RST.
    Reset,
    /// `EPIPE`: the peer's RST, unless this side shut down first.
    BrokenPipe,
    /// `ETIMEDOUT`: the kernel gave up on the peer.
    TimedOut,
    /// Anything else, including errors of a layer above the socket.
    Other,
}

impl Failure {
    /// Judged by the kernel's own error number, not by the kind alone: a
    /// layer above the socket (a timeout wrapper, TLS) may report
    /// `TimedOut` or `ConnectionReset` of its own while the socket is still
    /// open, and only the kernel's word means the socket is gone.
    fn of(error: &io::Error) -> Failure {
        #[cfg(unix)]
        match error.raw_os_error() {
            Some(libc::ECONNRESET | libc::ECONNABORTED) => return Failure::Reset,
            Some(libc::EPIPE) => return Failure::BrokenPipe,
            Some(libc::ETIMEDOUT) => return Failure::TimedOut,
            _ => {}
        }
        let _ = error;
        Failure::Other
    }
}

/// How a lent connection was left, as far as its I/O shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    /// Nothing seen says the exchange is unfinished.
    AtRest,
    /// A read or write was left waiting: the exchange was cut off.
    Pending,
    /// The peer reset the connection: nobody keeps TIME_WAIT.
    ResetByPeer,
    /// The kernel gave up on the connection (`ETIMEDOUT`): it is closed
    /// without a FIN from this side, and nobody keeps TIME_WAIT.
    TimedOut,
    /// Another I/O error, or a FIN this side sent.
    Broken,
}

impl Exchange {
    /// Notes a read (or a fill of a read buffer).
    pub(crate) fn read<T>(&mut self, result: &Poll<io::Result<T>>) {
        match result {
            Poll::Pending => self.read_pending = true,
            Poll::Ready(Ok(_)) => self.read_pending = false,
            Poll::Ready(Err(error)) => {
                self.read_pending = false;
                self.fail(error);
            }
        }
    }

    /// Notes a write, a flush or a shutdown.
    pub(crate) fn wrote<T>(&mut self, result: &Poll<io::Result<T>>) {
        match result {
            Poll::Pending => self.write_pending = true,
            Poll::Ready(Ok(_)) => self.write_pending = false,
            Poll::Ready(Err(error)) => {
                self.write_pending = false;
                self.fail(error);
            }
        }
    }

    /// Notes that this side's FIN is on its way.
    pub(crate) fn shut_down(&mut self) {
        self.sent_fin = true;
    }

    /// Whether a read or write through the guard failed, or this side sent
    /// its FIN.
    pub(crate) fn is_broken(&self) -> bool {
        self.failed.is_some() || self.sent_fin
    }

    fn fail(&mut self, error: &io::Error) {
        self.failed.get_or_insert_with(|| Failure::of(error));
    }

    /// How the connection was left.
    ///
    /// An error says most: `ECONNRESET` and `ECONNABORTED` are the peer's
    /// RST (or the kernel's, for the peer); so is `EPIPE` while this side has
    /// not sent its FIN (after a FIN of ours, `EPIPE` is our own doing).
    /// `ETIMEDOUT` is the kernel ending a connection whose peer stopped
    /// answering (`TCP_USER_TIMEOUT`, keep-alive probes, retransmissions):
    /// the socket is already closed without a FIN, so no TIME_WAIT is left
    /// here; but if this side sent a FIN first, the pool cannot tell from
    /// here whether it was answered, and counts the close as its own.
    pub(crate) fn left(&self) -> Left {
        match self.failed {
            Some(Failure::Reset) => Left::ResetByPeer,
            Some(Failure::BrokenPipe) if !self.sent_fin => Left::ResetByPeer,
            Some(Failure::TimedOut) if !self.sent_fin => Left::TimedOut,
            Some(_) => Left::Broken,
            None if self.sent_fin => Left::Broken,
            None if self.read_pending || self.write_pending => Left::Pending,
            None => Left::AtRest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    #[test]
    fn a_read_or_write_that_completed_leaves_the_connection_at_rest() {
        let mut exchange = Exchange::default();
        exchange.wrote(&Poll::Ready(Ok(6)));
        exchange.read(&Poll::<io::Result<()>>::Pending);
        exchange.read(&Poll::Ready(Ok(())));
        assert_eq!(exchange.left(), Left::AtRest);
    }

    #[test]
    fn a_read_or_write_left_pending_is_pending_until_one_completes() {
        let mut reading = Exchange::default();
        reading.read(&Poll::<io::Result<()>>::Pending);
        assert_eq!(reading.left(), Left::Pending);
        let mut writing = Exchange::default();
        writing.wrote(&Poll::<io::Result<usize>>::Pending);
        assert_eq!(writing.left(), Left::Pending);
        writing.wrote(&Poll::Ready(Ok(0)));
        assert_eq!(writing.left(), Left::AtRest);
    }

    #[test]
    fn an_error_outweighs_a_pending_read() {
        let mut exchange = Exchange::default();
        exchange.read(&Poll::<io::Result<()>>::Pending);
        exchange.wrote(&Poll::<io::Result<usize>>::Ready(Err(error(
            io::ErrorKind::Other,
        ))));
        assert_eq!(exchange.left(), Left::Broken);
    }

    #[cfg(unix)]
    fn errno(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[cfg(unix)]
    #[test]
    fn resets_and_timeouts_are_told_apart_from_other_errors() {
        for (code, sent_fin, left) in [
            (libc::ECONNRESET, false, Left::ResetByPeer),
            (libc::ECONNRESET, true, Left::ResetByPeer),
            (libc::ECONNABORTED, false, Left::ResetByPeer),
            (libc::EPIPE, false, Left::ResetByPeer),
            (libc::EPIPE, true, Left::Broken),
            (libc::ETIMEDOUT, false, Left::TimedOut),
            (libc::ETIMEDOUT, true, Left::Broken),
            (libc::EBADMSG, false, Left::Broken),
        ] {
            let mut exchange = Exchange::default();
            if sent_fin {
                exchange.shut_down();
            }
            exchange.wrote(&Poll::<io::Result<usize>>::Ready(Err(errno(code))));
            assert_eq!(exchange.left(), left, "errno {code}, sent FIN: {sent_fin}");
        }
    }

    #[test]
    fn a_timeout_or_reset_of_a_layer_above_the_socket_is_no_word_from_the_kernel() {
        // A timeout wrapper's `TimedOut` leaves the socket open: closing it
        // sends a FIN from this side, so it must not be taken for the
        // kernel's `ETIMEDOUT` (closed, no TIME_WAIT).
        for kind in [io::ErrorKind::TimedOut, io::ErrorKind::ConnectionReset] {
            let mut exchange = Exchange::default();
            exchange.read(&Poll::<io::Result<()>>::Ready(Err(error(kind))));
            assert_eq!(exchange.left(), Left::Broken, "{kind:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_first_error_is_the_one_kept() {
        let mut exchange = Exchange::default();
        exchange.read(&Poll::<io::Result<()>>::Ready(Err(errno(libc::ECONNRESET))));
        exchange.wrote(&Poll::<io::Result<usize>>::Ready(Err(errno(libc::EPIPE))));
        assert!(exchange.is_broken());
        assert_eq!(exchange.left(), Left::ResetByPeer);
    }
}
