//! The checked-out connection.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::Ends;
use crate::conn::Conn;
use crate::connection::{Connection, Health};
use crate::exchange::{Exchange, Left};
use crate::key::Key;
use crate::pool::checkin::park_released;
use crate::pool::slot::Slot;
use crate::pool::state::IdleStripe;
use crate::retire::RetireReason;

/// A connection lent by the pool: a lease that the borrower ends with
/// [`release`](Pooled::release) once its exchange is complete.
///
/// Dereferences to the connection, and reads and writes through to it, so
/// every way of doing I/O works: through the lease itself, through
/// `&mut *lease` (a `BufReader`, `split`, a `tokio_util::codec::Framed`), and
/// across `.await` points that may be cancelled.
///
/// # The lease contract
///
/// Only the protocol knows where an exchange ends, so the pool never
/// guesses:
///
/// - [`release(self)`](Pooled::release) says the exchange is complete: no
///   answer is still on its way and no bytes of it are left unread. The
///   connection goes back to the pool (to a waiting checkout, or the idle
///   set), unless it is due for retirement.
/// - Dropping the lease without a release (an early `?`, a timeout, a
///   response dropped unread, a panic) retires the connection: it is never
///   lent again, so no bytes of this exchange can reach another borrower.
/// - [`detach(self)`](Pooled::detach) takes the connection out of the pool
///   for good (a protocol upgrade, say).
///
/// The lease also watches the I/O done *through it*, as a safety net that
/// can only retire more: a release is overruled, and the connection
/// retired, when a read or write through the lease was left `Pending` (its
/// future was cancelled, so an answer may still arrive), when one failed,
/// or when this side shut its writing half down. I/O through `&mut *lease`
/// is not seen, which is why the release is what counts.
///
/// ```
/// use timewait_pool::{FarewellMessage, Pool, TcpConnector};
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
/// # let server = echo.local_addr();
/// let pool = Pool::builder(TcpConnector::new())
///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
///     .build()?;
/// let mut conn = pool.get(server).await?;
/// conn.write_all(b"hello\n").await?;
/// let mut line = String::new();
/// BufReader::new(&mut *conn).read_line(&mut line).await?; // an early `?` retires it
/// assert_eq!(line, "hello\n");
/// conn.release(); // the answer is read in full: lend it again
/// # Ok(()) }
/// ```
///
/// # What an unreleased lease costs
///
/// A dropped lease's exchange may be half-written, so the pool says no
/// [farewell](crate::Farewell) on it (the peer could take the farewell for
/// the rest of a request) and does not wait for the peer. It looks once at
/// the socket: if the peer has already closed or reset it, closing is a
/// passive close and TIME_WAIT (if any) stays on the peer. Otherwise it
/// closes under the [`Fallback`](crate::Fallback), whatever the close
/// policy: with the default [`Fallback::Local`](crate::Fallback::Local),
/// *this* side keeps a TIME_WAIT entry, which is charged to the
/// destination's port budget; with [`Fallback::Abort`](crate::Fallback::Abort)
/// a RST, and nobody keeps one. [`ClosePolicy::Local`](crate::ClosePolicy::Local)
/// and [`Abort`](crate::ClosePolicy::Abort) close as they always do. Such
/// retirements are counted in
/// [`RetireReasons::unreleased`](crate::RetireReasons::unreleased), and the
/// pool warns, naming the key, when most of a key's leases end this way.
///
/// # Errors and resets
///
/// When the kernel's own error number says the peer reset the connection
/// (`ECONNRESET`, `ECONNABORTED`, or `EPIPE` before this side shut down) or
/// that it gave up on the peer (`ETIMEDOUT`), the connection is counted as
/// such and charges no TIME_WAIT to the port budget, since none is left on
/// this side; the same kinds of error made by a layer above the socket (a
/// timeout wrapper, TLS) are not taken for it.
pub struct Pooled<K: Key, C: Connection> {
    conn: Option<Conn<C>>,
    slot: Option<Slot<K, C>>,
    /// The way back to its key's stripe, for a release that parks without
    /// the pool; taken when the lease ends. None for a lease made while
    /// checkouts wait, whose release goes to them through the books.
    stripe: Option<IdleStripe<K, C>>,
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
        reused: bool,
        ends: &Ends,
        stripe: Option<IdleStripe<K, C>>,
    ) -> Self {
        conn.uses += 1;
        let final_use = ends.max_uses.is_some_and(|max| conn.uses >= max);
        Pooled {
            conn: Some(conn),
            slot: Some(slot),
            stripe,
            reused,
            final_use,
            max_lifetime: ends.max_lifetime,
            retire: None,
            exchange: Exchange::default(),
        }
    }

    fn conn(&self) -> &Conn<C> {
        // Invariant: `conn` is `Some` from construction until the lease
        // ends (release, detach or drop), which consumes it.
        self.conn
            .as_ref()
            .expect("a lease holds its connection until it ends")
    }

    fn conn_mut(&mut self) -> &mut Conn<C> {
        // Invariant: as in `conn`.
        self.conn
            .as_mut()
            .expect("a lease holds its connection until it ends")
    }

    /// Ends the lease: the exchange is complete, and the connection goes
    /// back to the pool (to a waiting checkout or the idle set), or to
    /// retirement when it is due (its last use, a request to retire, a
    /// shutdown) or when the I/O through the lease overrules the release
    /// (see [the lease contract](Pooled#the-lease-contract)).
    ///
    /// Call it only when no answer of this exchange is still on its way and
    /// no bytes of it are left unread, in the connection or in a buffer
    /// over it that outlives the lease.
    pub fn release(mut self) {
        self.end(true);
    }

    /// Takes the connection out of the pool for good: for a protocol
    /// upgrade, or a connection handed to code that does not know the pool.
    /// Its place under the key's limit is given back at once, and the pool
    /// counts it in [`Activity::detached`](crate::Activity::detached); it
    /// never returns, and the pool charges nothing for its close.
    pub fn detach(mut self) -> C {
        let (conn, slot) = (self.conn.take(), self.slot.take());
        // Invariant: both are `Some` until the lease ends, and this ends it.
        let conn = conn.expect("a lease holds its connection until it ends");
        if let Some(slot) = slot {
            if let Some(shared) = slot.shared().upgrade() {
                shared.count(slot.key(), |a| a.detached += 1);
            }
            // Gives the unit to the next waiter, or back to the counts.
            drop(slot);
        }
        conn.io
    }

    /// The key the connection was made for.
    pub fn key(&self) -> &K {
        // Invariant: `slot` is `Some` until the lease ends.
        self.slot
            .as_ref()
            .map(Slot::key)
            .expect("a lease holds its slot until it ends")
    }

    /// Whether the connection served an earlier checkout.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// Whether this is the connection's last use: the pool will retire it
    /// when the lease ends (its use count or its lifetime is spent, its peer
    /// allows no more uses, or it was asked to). An HTTP/1.1 client sends `Connection: close` on this
    /// request, so that the server closes first (RFC 9112 §9.6).
    ///
    /// Once it says `true` it keeps saying so: a lifetime only runs out.
    pub fn is_final_use(&self) -> bool {
        self.final_use
            || self.retire.is_some()
            || self
                .conn()
                .io
                .remaining_uses()
                .is_some_and(|left| left <= 1)
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

    /// Retire the connection when the lease is released, under the pool's
    /// close policy (with its farewell), instead of returning it to the
    /// idle set.
    pub fn retire_after_use(&mut self) {
        self.retire.get_or_insert(RetireReason::Requested);
    }

    /// The connection is in an unknown state (a protocol error, a cancelled
    /// request): it is never lent again and is closed with the fallback,
    /// released or not.
    pub fn mark_broken(&mut self) {
        self.retire = Some(RetireReason::Broken);
    }

    /// Whether the connection was marked broken, by the user, by an I/O
    /// error through the lease or by a shutdown of its writing half.
    pub fn is_broken(&self) -> bool {
        matches!(self.retire, Some(RetireReason::Broken)) || self.exchange.is_broken()
    }

    /// Why the connection must be retired when the lease ends, if it must:
    /// what its I/O showed of the peer first, then the borrower's word.
    fn retire_reason(&mut self, released: bool) -> Option<RetireReason> {
        let asked = self.retire.take();
        match self.exchange.left() {
            Left::ResetByPeer => return Some(RetireReason::Unhealthy(Health::PeerReset)),
            Left::TimedOut => return Some(RetireReason::TimedOut),
            Left::Broken => return Some(RetireReason::Broken),
            Left::Pending | Left::AtRest => {}
        }
        if let Some(RetireReason::Broken) = asked {
            return asked;
        }
        if !released {
            return Some(RetireReason::Unreleased);
        }
        if self.exchange.left() == Left::Pending {
            return Some(RetireReason::Interrupted);
        }
        asked
    }

    /// Ends the lease, released or not. Runs once: it takes the connection.
    fn end(&mut self, released: bool) {
        let (Some(conn), Some(slot)) = (self.conn.take(), self.slot.take()) else {
            return;
        };
        // A used-up connection is retired by the check-in's own age and
        // use-count test; only what the lease saw travels from here.
        let retire = self.retire_reason(released);
        let stripe = self.stripe.take();
        let (conn, slot) = match stripe {
            // The common case: a release parks in its key's stripe, with no
            // reference to the pool taken (see `pool/checkin.rs`).
            Some(stripe) if retire.is_none() => match park_released(conn, slot, &stripe) {
                Ok(()) => return,
                Err(back) => back,
            },
            _ => (conn, slot),
        };
        match slot.shared().upgrade() {
            Some(shared) => shared.checkin(conn, slot, retire, released),
            // The pool is gone: nothing to return to.
            None => conn.io.close(),
        }
    }
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
    /// A lease dropped without [`release`](Pooled::release) retires its
    /// connection (see [the lease contract](Pooled#the-lease-contract)).
    fn drop(&mut self) {
        self.end(false);
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
        let result = Pin::new(&mut **self).poll_read(cx, buf);
        self.exchange.read(&result);
        result
    }
}

impl<K: Key, C: Connection + AsyncBufRead + Unpin> AsyncBufRead for Pooled<K, C> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Ready(Ok(&[]));
        };
        let result = Pin::new(&mut conn.io).poll_fill_buf(cx);
        this.exchange.read(&result);
        result
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut **self).consume(amt);
    }
}

impl<K: Key, C: Connection + AsyncWrite + Unpin> AsyncWrite for Pooled<K, C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut **self).poll_write(cx, buf);
        self.exchange.wrote(&result);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut **self).poll_flush(cx);
        self.exchange.wrote(&result);
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A shutdown sends our FIN: the connection cannot be lent again, and
        // this side closed first.
        self.exchange.shut_down();
        let result = Pin::new(&mut **self).poll_shutdown(cx);
        self.exchange.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut **self).poll_write_vectored(cx, bufs);
        self.exchange.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        (**self).is_write_vectored()
    }
}
