//! What the pool asks of an [`HttpConnection`]: its health, its server's
//! hints, and how to wait for the server's close.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use timewait_pool::{Connection, Destination, Health, PeerClose};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::HttpConnection;

/// How long after its last exchange a connection hyper still holds open is
/// taken as usable without a look at the socket.
///
/// hyper keeps a read pending on an idle connection (as Go's read loop and
/// pingora's 1-byte read do), so a server's FIN or stray bytes end its use
/// as soon as hyper's task runs; the `MSG_PEEK` only closes the window
/// before that task has run. Servers close idle connections after seconds
/// (and announce it, or the pool is told); a connection reused within this
/// bound skips the system call, and a close that lands in the window anyway
/// is the keep-alive race the retry rule covers for idempotent requests.
const FRESH: Duration = Duration::from_millis(1);

impl Connection for HttpConnection {
    /// hyper's own view, then one non-blocking `MSG_PEEK` on the socket
    /// (skipped for a connection hyper holds open that served a request
    /// less than a millisecond ago).
    ///
    /// A connection hyper is done with, or on which the server was asked to
    /// close, whose server has not closed yet, is reported as
    /// [`Health::UnexpectedData`]: not lent again, and retired by waiting for
    /// the server's close without a farewell, which is what it needs.
    fn health(&mut self) -> Health {
        if self.can_send() && self.idle_for() < FRESH {
            return Health::Usable;
        }
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match self.socket.peek(&mut byte) {
            Ok(0) => Health::PeerClosed,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if self.can_send() {
                    Health::Usable
                } else {
                    Health::UnexpectedData
                }
            }
            // Over TLS hyper's task reads records (a session ticket) that
            // arrive on an idle connection; in plain HTTP, bytes nobody asked
            // for (a 408 before an idle close) end its use.
            Ok(_) if self.is_tls() && self.can_send() => Health::Usable,
            Ok(_) => Health::UnexpectedData,
            Err(e) if is_reset(&e) => Health::PeerReset,
            Err(e) => Health::Broken(e),
        }
    }

    fn destination(&self) -> Option<Destination> {
        Some(Destination::new(self.peer).with_local_ip(self.local.ip()))
    }

    /// Lets hyper finish with the socket (dropping the sender ends an idle
    /// connection), then reads the socket until the server's FIN, discarding
    /// whatever comes first (a TLS close_notify, the rest of a response).
    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        let stream = match self.join().await {
            Some(stream) => stream,
            None => TcpStream::from_std(self.socket.try_clone()?.into())?,
        };
        read_until_peer_close(stream).await
    }

    /// The server's `Keep-Alive: timeout`, less the margin (zero when the
    /// timeout is no longer than the margin: the connection is not lent
    /// again, and the pool waits for the server's close).
    fn peer_idle_limit(&self) -> Option<Duration> {
        self.hint.timeout.map(|t| t.saturating_sub(self.margin))
    }

    /// None once either side said `Connection: close`; else the server's
    /// `Keep-Alive: max`.
    fn remaining_uses(&self) -> Option<u64> {
        if self.closing || self.peer_idle_limit() == Some(Duration::ZERO) {
            return Some(0);
        }
        self.hint.max
    }

    fn close(self) {
        drop(self);
    }

    fn abort(self) {
        if let Err(error) = self.socket.set_linger(Some(Duration::ZERO)) {
            tracing::debug!(%error, "could not set SO_LINGER 0; closing normally");
        }
        drop(self);
    }
}

/// Reads and discards until the peer's FIN or reset.
async fn read_until_peer_close(mut stream: TcpStream) -> io::Result<PeerClose> {
    let mut discard = [0u8; 2048];
    loop {
        match stream.read(&mut discard).await {
            Ok(0) => return Ok(PeerClose::Fin),
            Ok(_) => {}
            Err(e) if is_reset(&e) => return Ok(PeerClose::Reset),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}
