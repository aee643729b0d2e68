//! Protocol hooks that ask the peer to close first.

pub mod protocols;
mod redis;

pub use redis::RedisClientKillSelf;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The future a [`Farewell`] returns.
pub type FarewellFuture<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// Tells the peer, in its own protocol, to close the connection.
///
/// Under [`ClosePolicy::PeerFirst`](crate::ClosePolicy::PeerFirst) the pool
/// says the farewell when it retires a connection that is between exchanges
/// (released, or idle), then reads until the peer's FIN. It never says it on
/// a connection whose exchange was left unfinished: the peer could read the
/// farewell as the rest of a half-written request.
///
/// The echo protocol's farewell is the line `QUIT`; SMTP's is `QUIT` too;
/// Redis has `QUIT` up to version 7.2. For HTTP/1.1 the farewell is the
/// `Connection: close` header on the last request, which the caller sends
/// itself when [`Pooled::is_final_use`](crate::Pooled::is_final_use) says so;
/// an idle HTTP connection can be given a side-effect-free request with that
/// header, addressed with its key's `Host`.
///
/// The farewell is given the connection's key, so that one pool keyed by
/// origin can address each peer in its own terms.
///
/// ```
/// use timewait_pool::{Farewell, FarewellFuture};
/// use tokio::io::AsyncWriteExt;
/// use tokio::net::TcpStream;
///
/// /// `OPTIONS *` with `Connection: close`, sent to the key's own host.
/// struct CloseRequest;
///
/// impl Farewell<String, TcpStream> for CloseRequest {
///     fn say<'a>(&'a self, host: &'a String, conn: &'a mut TcpStream) -> FarewellFuture<'a> {
///         Box::pin(async move {
///             let request = format!("OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
///             conn.write_all(request.as_bytes()).await?;
///             conn.flush().await
///         })
///     }
/// }
/// ```
pub trait Farewell<K, C>: Send + Sync + 'static {
    /// Sends the farewell on `conn`, a connection made for `key`. An error
    /// means the peer cannot be told; the pool then goes straight to waiting
    /// for the peer's close.
    fn say<'a>(&'a self, key: &'a K, conn: &'a mut C) -> FarewellFuture<'a>;
}

/// A farewell that writes fixed bytes and flushes them, whatever the key:
/// `QUIT\r\n`, say.
///
/// ```
/// use timewait_pool::FarewellMessage;
///
/// let quit = FarewellMessage::new(&b"QUIT\n"[..]);
/// assert_eq!(quit.bytes(), b"QUIT\n");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct FarewellMessage {
    bytes: Vec<u8>,
}

impl FarewellMessage {
    /// A farewell that sends `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        FarewellMessage {
            bytes: bytes.into(),
        }
    }

    /// The bytes sent.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for FarewellMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FarewellMessage")
            .field(&String::from_utf8_lossy(&self.bytes))
            .finish()
    }
}

impl<K, C> Farewell<K, C> for FarewellMessage
where
    C: AsyncWrite + Unpin + Send + 'static,
{
    fn say<'a>(&'a self, _key: &'a K, conn: &'a mut C) -> FarewellFuture<'a> {
        Box::pin(async move {
            conn.write_all(&self.bytes).await?;
            conn.flush().await
        })
    }
}
