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

use crate::connection::Connection;
use crate::key::Key;
use crate::pool::slot::Slot;
use crate::pool::state::Conn;
use crate::retire::RetireReason;

/// A connection lent by the pool. Dereferences to the connection, and reads
/// and writes through to it.
///
/// Dropping the guard gives the connection back: to the next waiting
/// checkout, or to the idle set, or, when it was marked broken or is due for
/// retirement, to retirement under the pool's close policy. A read or write
/// error marks it broken.
pub struct Pooled<K: Key, C: Connection> {
    conn: Option<Conn<C>>,
    slot: Option<Slot<K, C>>,
    /// The pool's readiness permit, released after the check-in.
    _permit: Option<OwnedSemaphorePermit>,
    reused: bool,
    final_use: bool,
    retire: Option<RetireReason>,
}

impl<K: Key, C: Connection> Pooled<K, C> {
    pub(crate) fn new(
        mut conn: Conn<C>,
        slot: Slot<K, C>,
        permit: Option<OwnedSemaphorePermit>,
        reused: bool,
        max_uses: Option<u64>,
    ) -> Self {
        conn.uses += 1;
        let final_use = max_uses.is_some_and(|max| conn.uses >= max);
        Pooled {
            conn: Some(conn),
            slot: Some(slot),
            _permit: permit,
            reused,
            final_use,
            retire: None,
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
    /// the guard is dropped. An HTTP/1.1 client sends `Connection: close` on
    /// this request, so that the server closes first (RFC 9112 §9.6).
    pub fn is_final_use(&self) -> bool {
        self.final_use || self.retire.is_some()
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

    /// Whether the connection was marked broken, by the user or by an I/O
    /// error.
    pub fn is_broken(&self) -> bool {
        matches!(self.retire, Some(RetireReason::Broken))
    }

    fn note<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(_)) = &result {
            self.mark_broken();
        }
        result
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
    fn drop(&mut self) {
        let (Some(conn), Some(slot)) = (self.conn.take(), self.slot.take()) else {
            return;
        };
        // A used-up connection (`final_use`) is retired by the check-in's own
        // age and use-count test; only the user's reasons travel from here.
        let retire = self.retire.take();
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
        self.note(result)
    }
}

impl<K: Key, C: Connection + AsyncWrite + Unpin> AsyncWrite for Pooled<K, C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut **self).poll_write(cx, buf);
        self.note(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut **self).poll_flush(cx);
        self.note(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A shutdown sends our FIN: the connection cannot be lent again, and
        // this side closed first.
        self.retire = Some(RetireReason::Broken);
        let result = Pin::new(&mut **self).poll_shutdown(cx);
        self.note(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut **self).poll_write_vectored(cx, bufs);
        self.note(result)
    }

    fn is_write_vectored(&self) -> bool {
        (**self).is_write_vectored()
    }
}
