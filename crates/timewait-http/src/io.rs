//! The byte stream under hyper: plain TCP or TLS, counting the bytes each
//! way so that a failed request can tell whether any of it was written and
//! whether any of its answer arrived (what a retry may rely on).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes moved through a connection so far, as hyper saw them (plaintext
/// under TLS).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    written: AtomicU64,
    read: AtomicU64,
}

/// A reading of [`Traffic`], taken before a request is handed to hyper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    written: u64,
    read: u64,
}

impl Traffic {
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            written: self.written.load(Ordering::Acquire),
            read: self.read.load(Ordering::Acquire),
        }
    }

    /// What moved since `mark`: (anything written, anything read).
    pub(crate) fn since(&self, mark: Mark) -> (bool, bool) {
        let now = self.mark();
        (now.written > mark.written, now.read > mark.read)
    }
}

/// Plain TCP or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The stream hyper drives, with its traffic counted.
pub(crate) struct Io {
    stream: Stream,
    traffic: Arc<Traffic>,
}

impl Io {
    pub(crate) fn new(stream: Stream, traffic: Arc<Traffic>) -> Io {
        Io { stream, traffic }
    }

    /// The TCP stream under it. A TLS session is dropped without a
    /// close_notify: what the server still sends is read as raw bytes and
    /// discarded.
    pub(crate) fn into_tcp(self) -> TcpStream {
        match self.stream {
            Stream::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.into_inner().0,
        }
    }
}

macro_rules! on_stream {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.stream {
            Stream::Plain($s) => $e,
            #[cfg(feature = "tls")]
            Stream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = on_stream!(this, s => Pin::new(s).poll_read(cx, buf));
        let n = buf.filled().len().saturating_sub(before) as u64;
        if n > 0 {
            this.traffic.read.fetch_add(n, Ordering::Release);
        }
        result
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = on_stream!(this, s => Pin::new(s).poll_write(cx, buf));
        if let Poll::Ready(Ok(n)) = result {
            this.traffic.written.fetch_add(n as u64, Ordering::Release);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = on_stream!(this, s => Pin::new(s).poll_write_vectored(cx, bufs));
        if let Poll::Ready(Ok(n)) = result {
            this.traffic.written.fetch_add(n as u64, Ordering::Release);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        on_stream!(this, s => Pin::new(s).poll_flush(cx))
    }

    /// Never called: hyper runs without shutdown, and the pool closes the
    /// socket only after the server's FIN (a TLS close_notify written after
    /// the server closed could draw a reset). Refused if it ever is.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the client never closes first",
        )))
    }
}
