//! The framed lease: a codec over a [`Pooled`] connection that counts the
//! responses owed.

use std::fmt;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedParts};

use super::boundary::{Boundary, EveryFrame};
use super::error::{FramedError, Release, Unfinished};
use crate::connection::Connection;
use crate::guard::Pooled;
use crate::key::Key;

/// A pooled connection with a codec on it: requests go out through the
/// codec's `Encoder`, responses come in through its `Decoder`, and the lease
/// releases its connection only at a message boundary.
///
/// Made by [`Pooled::framed`] (or [`FramedLease::new`]). It is a
/// [`Sink`](futures_util::Sink) of requests and a
/// [`Stream`](futures_util::Stream) of the responses owed, like a
/// [`Framed`], and has `async` shorthands: [`call`](Self::call),
/// [`send`](Self::send), [`feed`](Self::feed) and [`flush`](Self::flush),
/// [`receive`](Self::receive), [`response`](Self::response).
///
/// # Responses owed
///
/// Each request sent owes one response ([`send_owing`](Self::send_owing)
/// says otherwise); each response decoded pays one. What a response is, in
/// frames, the [`Boundary`] says: every frame by default
/// ([`EveryFrame`]), or the frame that ends it
/// ([`with_boundary`](Self::with_boundary)). The stream yields frames while
/// responses are owed and then ends (`None`), so `while let Some(frame) =
/// lease.next().await` reads exactly what was asked for.
///
/// # Ending the lease
///
/// - [`release(self)`](Self::release) returns the connection to the pool
///   when the exchange is complete: no response owed, no byte left in the
///   read buffer, nothing left in the write buffer. Otherwise it retires the
///   connection, and says why ([`Release::Retired`]).
/// - Dropping the lease retires the connection, as a dropped [`Pooled`]
///   does: a request cancelled by a timeout never hands its answer to the
///   next borrower.
/// - [`detach(self)`](Self::detach) takes the connection out of the pool,
///   as a [`Framed`] over it with its buffers.
///
/// Either way the buffers go with the lease: bytes read for one borrower
/// are never seen by the next.
///
/// # Errors
///
/// A codec error (a frame that does not decode, a request that does not
/// encode, an I/O error under the codec) marks the connection broken: it
/// is never lent again and is closed without a farewell, since the
/// protocol's state is unknown. A connection the peer closed with responses
/// owed ends the stream with [`FramedError::Closed`]. After either, the
/// lease answers [`FramedError::Unusable`].
///
/// # Pipelining
///
/// Several requests may be sent before their responses are read
/// ([`feed`](Self::feed) them, then [`flush`](Self::flush)), when the
/// protocol answers in order on one connection: Redis, memcached's text
/// protocol (except with `noreply`, which owes nothing:
/// [`send_owing`](Self::send_owing) with 0) and PostgreSQL's simple query
/// protocol do. Protocols that answer out of order, or that forbid a second
/// request before the first answer (SMTP without `PIPELINING`), must not be
/// pipelined.
///
/// ```
/// use timewait_pool::{FarewellMessage, Pool, TcpConnector};
/// use tokio_util::codec::LinesCodec;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
/// # let server = echo.local_addr();
/// let pool = Pool::builder(TcpConnector::new())
///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
///     .build()?;
/// let mut conn = pool.get(server).await?.framed(LinesCodec::new());
/// conn.send("hello").await?;
/// assert_eq!(conn.owed(), 1);
/// assert_eq!(conn.receive().await?, "hello");
/// assert!(conn.release().is_returned());
///
/// let mut conn = pool.get(server).await?.framed(LinesCodec::new());
/// assert!(conn.lease().is_reused());
/// conn.send("never read").await?;
/// // A response still owed: the connection is retired, not lent again.
/// assert!(!conn.release().is_returned());
/// # Ok(()) }
/// ```
pub struct FramedLease<K: Key, C: Connection, D, B = EveryFrame> {
    pub(super) framed: Framed<Pooled<K, C>, D>,
    pub(super) boundary: B,
    /// Responses owed: requested and not yet decoded to their end.
    pub(super) owed: usize,
    /// An error cut the exchange.
    pub(super) failed: bool,
}

impl<K: Key, C: Connection> Pooled<K, C> {
    /// Puts `codec` on the connection: a [`FramedLease`] that releases the
    /// connection at a message boundary. Needs the `codec` feature.
    ///
    /// ```
    /// use timewait_pool::{FarewellMessage, Pool, TcpConnector};
    /// use tokio_util::codec::LinesCodec;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
    /// # let server = echo.local_addr();
    /// let pool = Pool::builder(TcpConnector::new())
    ///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
    ///     .build()?;
    /// let mut conn = pool.get(server).await?.framed(LinesCodec::new());
    /// assert_eq!(conn.call("ping").await?, "ping");
    /// conn.release();
    /// # Ok(()) }
    /// ```
    pub fn framed<D>(self, codec: D) -> FramedLease<K, C, D> {
        FramedLease::new(self, codec)
    }
}

impl<K: Key, C: Connection, D> FramedLease<K, C, D> {
    /// Puts `codec` on `lease`, with nothing owed and empty buffers; every
    /// frame is a response until [`with_boundary`](Self::with_boundary)
    /// says otherwise.
    pub fn new(lease: Pooled<K, C>, codec: D) -> Self {
        FramedLease {
            framed: Framed::new(lease, codec),
            boundary: EveryFrame,
            owed: 0,
            failed: false,
        }
    }
}

impl<K: Key, C: Connection, D, B> FramedLease<K, C, D, B> {
    /// The same lease, with `boundary` telling which frame ends a response.
    ///
    /// ```
    /// # use timewait_pool::{FarewellMessage, Pool, TcpConnector};
    /// # use tokio_util::codec::LinesCodec;
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
    /// # let server = echo.local_addr();
    /// # let pool = Pool::builder(TcpConnector::new())
    /// #     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
    /// #     .build()?;
    /// // On an echo server: two lines out, one response of two lines back.
    /// let mut conn = pool
    ///     .get(server)
    ///     .await?
    ///     .framed(LinesCodec::new())
    ///     .with_boundary(|line: &String| line == ".");
    /// conn.feed_owing("a row", 0).await?; // a line of the request that owes nothing
    /// conn.feed(".").await?;
    /// conn.flush().await?;
    /// assert_eq!(conn.owed(), 1);
    /// assert_eq!(conn.response().await?, ["a row", "."]);
    /// assert!(conn.release().is_returned());
    /// # Ok(()) }
    /// ```
    pub fn with_boundary<B2>(self, boundary: B2) -> FramedLease<K, C, D, B2> {
        FramedLease {
            framed: self.framed,
            boundary,
            owed: self.owed,
            failed: self.failed,
        }
    }

    /// Responses owed: requested and not yet decoded to their end.
    pub fn owed(&self) -> usize {
        self.owed
    }

    /// Counts `responses` more as owed: for a protocol that answers one
    /// request more than once, or speaks first (a greeting, a startup's
    /// messages), where the request was sent with
    /// [`send_owing`](Self::send_owing) or not at all.
    pub fn expect(&mut self, responses: usize) {
        self.owed = self.owed.saturating_add(responses);
    }

    /// Bytes received and not yet decoded.
    pub fn unread_bytes(&self) -> usize {
        self.framed.read_buffer().len()
    }

    /// The lease under the codec: its key, whether it is reused, whether
    /// this is its last use.
    pub fn lease(&self) -> &Pooled<K, C> {
        self.framed.get_ref()
    }

    /// The lease under the codec, to [retire it after
    /// use](Pooled::retire_after_use) or [mark it broken](Pooled::mark_broken).
    /// Bytes read or written through it bypass the codec and its count:
    /// the lease can no longer tell where the exchange ends.
    pub fn lease_mut(&mut self) -> &mut Pooled<K, C> {
        self.framed.get_mut()
    }

    /// The codec.
    pub fn codec(&self) -> &D {
        self.framed.codec()
    }

    /// The codec, to change its settings between messages.
    pub fn codec_mut(&mut self) -> &mut D {
        self.framed.codec_mut()
    }

    /// Whether an error cut the exchange: the connection will be retired.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// What is left of the exchange, if anything.
    pub fn unfinished(&self) -> Option<Unfinished> {
        if self.failed {
            Some(Unfinished::Failed)
        } else if self.owed > 0 {
            Some(Unfinished::ResponsesOwed(self.owed))
        } else if !self.framed.read_buffer().is_empty() {
            Some(Unfinished::BytesUnread(self.framed.read_buffer().len()))
        } else if !self.framed.write_buffer().is_empty() {
            Some(Unfinished::WritesUnflushed(
                self.framed.write_buffer().len(),
            ))
        } else {
            None
        }
    }

    /// Ends the lease: when the exchange is complete, the connection goes
    /// back to the pool ([`Pooled::release`]); otherwise it is retired as
    /// an unreleased lease is, and the answer says why. The buffers are
    /// dropped either way.
    pub fn release(self) -> Release {
        let unfinished = self.unfinished();
        let lease = self.framed.into_parts().io;
        match unfinished {
            None => {
                lease.release();
                Release::Returned
            }
            Some(why) => {
                tracing::debug!(key = ?lease.key(), %why, "framed lease retired at release");
                drop(lease);
                Release::Retired(why)
            }
        }
    }

    /// Takes the connection out of the pool for good ([`Pooled::detach`]),
    /// as a [`Framed`] with this lease's codec and buffers: bytes already
    /// read are decoded first. `Req` is a request type of the codec, named
    /// when it has several (`detach::<String>()` for a `LinesCodec`).
    pub fn detach<Req>(self) -> Framed<C, D>
    where
        C: AsyncRead + AsyncWrite,
        D: Encoder<Req>,
    {
        let parts = self.framed.into_parts();
        let mut detached = FramedParts::new::<Req>(parts.io.detach(), parts.codec);
        detached.read_buf = parts.read_buf;
        detached.write_buf = parts.write_buf;
        Framed::from_parts(detached)
    }

    /// Notes a codec error: the exchange is cut and the connection broken.
    pub(super) fn fail<E>(&mut self, error: E) -> FramedError<E> {
        self.failed = true;
        self.framed.get_mut().mark_broken();
        FramedError::Codec(error)
    }

    /// Notes that a decoded frame arrived.
    pub(super) fn decoded(&mut self, frame: &<D as Decoder>::Item)
    where
        D: Decoder,
        B: Boundary<<D as Decoder>::Item>,
    {
        if self.boundary.ends_response(frame) {
            self.owed = self.owed.saturating_sub(1);
        }
    }
}

impl<K, C, D, B> fmt::Debug for FramedLease<K, C, D, B>
where
    K: Key,
    C: Connection,
    D: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedLease")
            .field("lease", self.framed.get_ref())
            .field("codec", self.framed.codec())
            .field("owed", &self.owed)
            .field("buffered", &self.framed.read_buffer().len())
            .field("unflushed", &self.framed.write_buffer().len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
