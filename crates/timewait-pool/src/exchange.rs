//! What a guard saw of the I/O through it: enough to tell a connection at
//! rest between requests from one cut off in the middle of an exchange, and a
//! connection the peer reset from one this side broke.
//!
//! The rule, for request/response protocols: a connection is at rest when no
//! read or write through the guard was left waiting (a future cancelled at a
//! `Pending` poll leaves the protocol at an unknown point), and the last bytes
//! that moved went *in*: a read returned data after the last write. Bytes
//! written with no answer read since are a request whose answer would reach
//! the next borrower. Three flags, set and cleared on each poll: no system
//! call, no allocation.

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
    /// Bytes were written and no read returned data since.
    unanswered: bool,
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
    /// Between exchanges: it can be lent again.
    AtRest,
    /// In the middle of an exchange: the protocol state is unknown.
    InFlight,
    /// The peer reset the connection: nobody keeps TIME_WAIT.
    ResetByPeer,
    /// The kernel gave up on the connection (`ETIMEDOUT`): it is closed
    /// without a FIN from this side, and nobody keeps TIME_WAIT.
    TimedOut,
    /// Another I/O error, or a FIN this side sent.
    Broken,
}

impl Exchange {
    /// Notes a read that filled `read` bytes (when ready).
    pub(crate) fn read(&mut self, result: &Poll<io::Result<()>>, read: usize) {
        match result {
            Poll::Pending => self.read_pending = true,
            Poll::Ready(Ok(())) => {
                self.read_pending = false;
                if read > 0 {
                    self.unanswered = false;
                }
            }
            Poll::Ready(Err(error)) => {
                self.read_pending = false;
                self.fail(error);
            }
        }
    }

    /// Notes a write that took `written` bytes (when ready), or a flush.
    pub(crate) fn wrote(&mut self, result: Poll<Result<usize, &io::Error>>) {
        match result {
            Poll::Pending => self.write_pending = true,
            Poll::Ready(Ok(written)) => {
                self.write_pending = false;
                if written > 0 {
                    self.unanswered = true;
                }
            }
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

    /// The user says the protocol is at rest, whatever the guard saw.
    pub(crate) fn settle(&mut self) {
        self.read_pending = false;
        self.write_pending = false;
        self.unanswered = false;
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
            None if self.read_pending || self.write_pending || self.unanswered => Left::InFlight,
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
    fn a_request_answered_leaves_the_connection_at_rest() {
        let mut exchange = Exchange::default();
        exchange.wrote(Poll::Ready(Ok(6)));
        exchange.read(&Poll::Pending, 0);
        exchange.read(&Poll::Ready(Ok(())), 6);
        assert_eq!(exchange.left(), Left::AtRest);
    }

    #[test]
    fn a_request_without_its_answer_is_in_flight() {
        let mut exchange = Exchange::default();
        exchange.wrote(Poll::Ready(Ok(6)));
        assert_eq!(exchange.left(), Left::InFlight);
        // An end of file is no answer either.
        exchange.read(&Poll::Ready(Ok(())), 0);
        assert_eq!(exchange.left(), Left::InFlight);
    }

    #[test]
    fn a_read_or_write_left_pending_is_in_flight() {
        let mut reading = Exchange::default();
        reading.read(&Poll::Pending, 0);
        assert_eq!(reading.left(), Left::InFlight);
        let mut writing = Exchange::default();
        writing.wrote(Poll::Pending);
        assert_eq!(writing.left(), Left::InFlight);
        writing.wrote(Poll::Ready(Ok(0)));
        assert_eq!(writing.left(), Left::AtRest);
    }

    #[test]
    fn settling_forgets_what_was_in_flight_but_not_errors() {
        let mut exchange = Exchange::default();
        exchange.wrote(Poll::Ready(Ok(3)));
        exchange.read(&Poll::Pending, 0);
        exchange.settle();
        assert_eq!(exchange.left(), Left::AtRest);
        exchange.read(&Poll::Ready(Err(error(io::ErrorKind::Other))), 0);
        exchange.settle();
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
            exchange.wrote(Poll::Ready(Err(&errno(code))));
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
            exchange.read(&Poll::Ready(Err(error(kind))), 0);
            assert_eq!(exchange.left(), Left::Broken, "{kind:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_first_error_is_the_one_kept() {
        let mut exchange = Exchange::default();
        exchange.read(&Poll::Ready(Err(errno(libc::ECONNRESET))), 0);
        exchange.wrote(Poll::Ready(Err(&errno(libc::EPIPE))));
        assert!(exchange.is_broken());
        assert_eq!(exchange.left(), Left::ResetByPeer);
    }
}
