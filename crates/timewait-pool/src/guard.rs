//! The checked-out connection.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::connection::{Connection, Health};
use crate::exchange::{Exchange, Left};
use crate::key::Key;
use crate::pool::slot::Slot;
use crate::pool::state::Conn;
use crate::retire::RetireReason;

/// A connection lent by the pool. Dereferences to the connection, and reads
/// and writes through to it.
///
/// Dropping the guard gives the connection back: to the next waiting
/// checkout, or to the idle set, or, when it was marked broken or is due for
/// retirement, to retirement under the pool's close policy.
///
/// # When a connection is lent again
///
/// The guard watches the reads and writes made *through it* (its
/// [`AsyncRead`] and [`AsyncWrite`]), so that a request cut short never
/// reaches the next borrower. For request/response protocols a connection is
/// lent again only when it was left between exchanges:
///
/// - no read or write was left `Pending`: a future dropped at that point (by
///   a timeout or a `select!`) cancelled the exchange half-way;
/// - the last bytes that moved came in: a read returned data after the last
///   write. Bytes written with no answer read since are a request whose
///   answer the next borrower would read.
///
/// Otherwise the connection is retired as broken: never lent again, closed
/// under the policy without a farewell (which could not be told apart from
/// the unfinished request), unless the peer has already closed or reset it.
/// A read or write error marks it broken too. When the kernel's own error
/// number says the peer reset the connection (`ECONNRESET`, `ECONNABORTED`,
/// or `EPIPE` before this side shut down) or that it gave up on the peer
/// (`ETIMEDOUT`), it is counted as such and charges no TIME_WAIT to the port
/// budget, since none is left on this side; the same kinds of error made by
/// a layer above the socket (a timeout wrapper, TLS) are not taken for it.
///
/// I/O through [`Deref`]/[`DerefMut`] bypasses the guard: do the reads and
/// writes of an exchange through the guard, or call
/// [`mark_at_rest`](Pooled::mark_at_rest) once the exchange is complete (a
/// protocol that only writes, say).
pub struct Pooled<K: Key, C: Connection> {
    conn: Option<Conn<C>>,
    slot: Option<Slot<K, C>>,
    /// The pool's readiness permit, released after the check-in.
    _permit: Option<OwnedSemaphorePermit>,
    reused: bool,
    final_use: bool,
    max_lifetime: Option<Duration>,
    retire: Option<RetireReason>,
    exchange: Exchange,
}

impl<K: Key, C: Connection> Pooled<K, C> {
    pub(crate) fn new(
        mut conn: Conn<C>,
        slot: Slot<K, C>,
        permit: Option<OwnedSemaphorePermit>,
        reused: bool,
        ends: Ends,
    ) -> Self {
        conn.uses += 1;
        let final_use = ends.max_uses.is_some_and(|max| conn.uses >= max);
        Pooled {
            conn: Some(conn),
            slot: Some(slot),
            _permit: permit,
            reused,
            final_use,
            max_lifetime: ends.max_lifetime,
            retire: None,
            exchange: Exchange::default(),
        }
    }

    fn conn(&self) -> &Conn<C> {
        // Invariant: `conn` is `Some` from construction until `drop`.
        self.conn
            .as_ref()
            .expect("a guard holds its connection until dropped")
    }

    fn conn_mut(&mut self) -> &mut Conn<C> {
        // Invariant: as in `conn`.
        self.conn
            .as_mut()
            .expect("a guard holds its connection until dropped")
    }

    /// The key the connection was made for.
    pub fn key(&self) -> &K {
        // Invariant: `slot` is `Some` from construction until `drop`.
        self.slot
            .as_ref()
            .map(Slot::key)
            .expect("a guard holds its slot until dropped")
    }

    /// Whether the connection served an earlier checkout.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// Whether this is the connection's last use: the pool will retire it when
    /// the guard is dropped (its use count or its lifetime is spent, or it
    /// was asked to). An HTTP/1.1 client sends `Connection: close` on this
    /// request, so that the server closes first (RFC 9112 §9.6).
    ///
    /// Once it says `true` it keeps saying so: a lifetime only runs out.
    pub fn is_final_use(&self) -> bool {
        self.final_use
            || self.retire.is_some()
            || self.max_lifetime.is_some_and(|life| self.age() >= life)
    }

    /// How many checkouts the connection has served, this one included.
    pub fn uses(&self) -> u64 {
        self.conn().uses
    }

    /// The instant the connection was made, on tokio's clock.
    pub fn created(&self) -> Instant {
        self.conn().created
    }

    /// How long ago the connection was made.
    pub fn age(&self) -> Duration {
        self.conn().created.elapsed()
    }

    /// Retire the connection when the guard is dropped, under the pool's
    /// close policy, instead of returning it to the idle set.
    pub fn retire_after_use(&mut self) {
        self.retire.get_or_insert(RetireReason::Requested);
    }

    /// The connection is in an unknown state (a protocol error, a cancelled
    /// request): it is never lent again and is closed with the fallback.
    pub fn mark_broken(&mut self) {
        self.retire = Some(RetireReason::Broken);
    }

    /// Whether the connection was marked broken, by the user, by an I/O
    /// error or by a shutdown of its writing half.
    pub fn is_broken(&self) -> bool {
        matches!(self.retire, Some(RetireReason::Broken)) || self.exchange.is_broken()
    }

    /// Tells the pool that the protocol is between exchanges on this
    /// connection, whatever the guard saw: no request of this borrower awaits
    /// an answer and no read or write was cut short. For protocols that only
    /// write, and for exchanges read or written through [`DerefMut`].
    /// Errors and a shutdown still count.
    ///
    /// See [When a connection is lent again](Pooled#when-a-connection-is-lent-again).
    pub fn mark_at_rest(&mut self) {
        self.exchange.settle();
    }

    /// Why the connection must be retired at check-in, if it must: what its
    /// I/O showed comes before what the user asked.
    fn retire_reason(&mut self) -> Option<RetireReason> {
        let asked = self.retire.take();
        match self.exchange.left() {
            Left::AtRest => asked,
            Left::InFlight => match asked {
                Some(RetireReason::Broken) => asked,
                _ => Some(RetireReason::Interrupted),
            },
            Left::ResetByPeer => Some(RetireReason::Unhealthy(Health::PeerReset)),
            Left::TimedOut => Some(RetireReason::TimedOut),
            Left::Broken => Some(RetireReason::Broken),
        }
    }
}

/// What ends a connection's use, for [`Pooled::is_final_use`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    pub(crate) max_uses: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
}

// The guard never pins its fields: the connection is polled through
// `Pin::new`, which needs `C: Unpin` on its own.
impl<K: Key, C: Connection> Unpin for Pooled<K, C> {}

impl<K: Key, C: Connection> Deref for Pooled<K, C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.conn().io
    }
}

impl<K: Key, C: Connection> DerefMut for Pooled<K, C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn_mut().io
    }
}

impl<K: Key, C: Connection> Drop for Pooled<K, C> {
    fn drop(&mut self) {
        let (Some(conn), Some(slot)) = (self.conn.take(), self.slot.take()) else {
            return;
        };
        // A used-up connection (`final_use`) is retired by the check-in's own
        // age and use-count test; only what the guard saw travels from here.
        let retire = self.retire_reason();
        match slot.shared().upgrade() {
            Some(shared) => shared.checkin(conn, slot, retire),
            // The pool is gone: nothing to return to.
            None => conn.io.close(),
        }
    }
}

impl<K: Key, C: Connection> fmt::Debug for Pooled<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("key", &self.slot.as_ref().map(Slot::key))
            .field("uses", &self.conn.as_ref().map(|c| c.uses))
            .field("reused", &self.reused)
            .field("final_use", &self.final_use)
            .field("retire", &self.retire)
            .field("exchange", &self.exchange)
            .finish()
    }
}

impl<K: Key, C: Connection + AsyncRead + Unpin> AsyncRead for Pooled<K, C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut **self).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.exchange.read(&result, read);
        result
    }
}

/// A write's outcome as the [`Exchange`] takes it.
fn written<T: Copy>(
    result: &Poll<io::Result<T>>,
    count: impl Fn(T) -> usize,
) -> Poll<Result<usize, &io::Error>> {
    match result {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(value)) => Poll::Ready(Ok(count(*value))),
        Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
    }
}

impl<K: Key, C: Connection + AsyncWrite + Unpin> AsyncWrite for Pooled<K, C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut **self).poll_write(cx, buf);
        self.exchange.wrote(written(&result, |n| n));
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut **self).poll_flush(cx);
        self.exchange.wrote(written(&result, |()| 0));
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A shutdown sends our FIN: the connection cannot be lent again, and
        // this side closed first.
        self.exchange.shut_down();
        let result = Pin::new(&mut **self).poll_shutdown(cx);
        self.exchange.wrote(written(&result, |()| 0));
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut **self).poll_write_vectored(cx, bufs);
        self.exchange.wrote(written(&result, |n| n));
        result
    }

    fn is_write_vectored(&self) -> bool {
        (**self).is_write_vectored()
    }
}
