//! A `tower::Service` of requests for one key, over framed leases.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder};
use tower::Service;

use crate::connection::Connection;
use crate::error::BoxError;
use crate::key::Key;
use crate::pool::Pool;

/// A `tower::Service<Req>` that answers each request with one frame,
/// through a [`FramedLease`](super::FramedLease) of its own: it checks a
/// connection for its key out of the pool, puts a clone of the codec on
/// it, sends the request, decodes the answer and releases the connection
/// at that boundary.
///
/// For protocols that answer a request with one frame (Redis, memcached's
/// text protocol); a response of several frames needs the lease itself and
/// a [`Boundary`](super::Boundary). Concurrent calls use as many
/// connections as the pool lends for the key, so a call is never queued
/// behind another's answer; `poll_ready` reserves nothing (see
/// [Readiness](crate::Pool#readiness)).
///
/// ```
/// use timewait_pool::framed::FramedService;
/// use timewait_pool::{FarewellMessage, Pool, TcpConnector};
/// use tokio_util::codec::LinesCodec;
/// use tower::ServiceExt;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let echo = timewait_echo::EchoServer::bind("127.0.0.1:0".parse()?).await?.spawn();
/// # let server = echo.local_addr();
/// let pool = Pool::builder(TcpConnector::new())
///     .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
///     .build()?;
/// // `server` is a line echo server.
/// let service = FramedService::new(pool, server, LinesCodec::new());
/// let answer = service.clone().oneshot("hello").await?;
/// assert_eq!(answer, "hello");
/// # Ok(()) }
/// ```
pub struct FramedService<K: Key, S, C: Connection, D> {
    pool: Pool<K, S, C>,
    key: K,
    codec: D,
}

impl<K: Key, S, C: Connection, D> FramedService<K, S, C, D> {
    /// A service of requests to `key`, over `pool`, each through a clone
    /// of `codec`.
    pub fn new(pool: Pool<K, S, C>, key: K, codec: D) -> Self {
        FramedService { pool, key, codec }
    }

    /// The key every request goes to.
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K, S, C, D, Req> Service<Req> for FramedService<K, S, C, D>
where
    K: Key,
    C: Connection + AsyncRead + AsyncWrite + Unpin,
    S: Service<K, Response = C> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    D: Decoder + Encoder<Req, Error = <D as Decoder>::Error> + Clone + Unpin + Send + 'static,
    <D as Decoder>::Item: Send,
    <D as Decoder>::Error: std::error::Error + Send + Sync + 'static,
    Req: Send + 'static,
{
    type Response = <D as Decoder>::Item;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Every wait happens in the checkout, where the key is known.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let checkout = self.pool.get(self.key.clone());
        let codec = self.codec.clone();
        Box::pin(async move {
            let mut conn = checkout.await?.framed(codec);
            let answer = conn.call(request).await?;
            conn.release();
            Ok(answer)
        })
    }
}

impl<K: Key, S: Clone, C: Connection, D: Clone> Clone for FramedService<K, S, C, D> {
    fn clone(&self) -> Self {
        FramedService {
            pool: self.pool.clone(),
            key: self.key.clone(),
            codec: self.codec.clone(),
        }
    }
}

impl<K: Key, S: fmt::Debug, C: Connection, D: fmt::Debug> fmt::Debug for FramedService<K, S, C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedService")
            .field("pool", &self.pool)
            .field("key", &self.key)
            .field("codec", &self.codec)
            .finish()
    }
}
