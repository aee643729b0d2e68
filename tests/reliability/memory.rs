//! In-memory connections (`tokio::io::duplex` pairs) whose server half runs
//! a tiny line protocol, so that tests on tokio's paused clock, and tests
//! that make hundreds of thousands of connections, stay deterministic and
//! cheap. Each connection remembers the key it was made for.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use timewait::core::ledger::Destination;
use timewait::pool::{Connection, Health, PeerClose};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
    ReadBuf,
};

/// How the server half behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemServer {
    /// Echoes lines; closes on `QUIT`.
    Echo,
    /// Echoes lines and never closes, whatever it is told.
    Stubborn,
}

/// What happened to the connections of one connector.
#[derive(Debug, Default)]
pub struct MemLog {
    pub made: AtomicU64,
    pub closed: AtomicU64,
    pub aborted: AtomicU64,
}

impl MemLog {
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::Acquire)
    }

    /// Connections closed or aborted by the client side.
    pub fn ended(&self) -> u64 {
        self.closed.load(Ordering::Acquire) + self.aborted.load(Ordering::Acquire)
    }
}

/// The client half of an in-memory connection.
pub struct MemConn {
    /// The key it was made for, as `{:?}` prints it.
    pub made_for: String,
    pub id: u64,
    io: DuplexStream,
    log: Arc<MemLog>,
}

impl fmt::Debug for MemConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemConn")
            .field("made_for", &self.made_for)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for MemConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for MemConn {
    fn health(&mut self) -> Health {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut buf) {
            Poll::Pending => Health::Usable,
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Health::PeerClosed,
            Poll::Ready(Ok(())) => Health::UnexpectedData,
            Poll::Ready(Err(e)) => Health::Broken(e),
        }
    }

    fn destination(&self) -> Option<Destination> {
        Some(Destination::new(SocketAddr::from(([127, 0, 0, 1], 7))))
    }

    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        let mut discard = [0u8; 64];
        while self.io.read(&mut discard).await? != 0 {}
        Ok(PeerClose::Fin)
    }

    fn close(self) {
        self.log.closed.fetch_add(1, Ordering::AcqRel);
    }

    fn abort(self) {
        self.log.aborted.fetch_add(1, Ordering::AcqRel);
    }
}

/// Makes in-memory connections for any key; each gets a server task.
#[derive(Debug, Clone)]
pub struct MemConnector {
    pub server: MemServer,
    pub log: Arc<MemLog>,
}

impl MemConnector {
    pub fn new(server: MemServer) -> Self {
        MemConnector {
            server,
            log: Arc::new(MemLog::default()),
        }
    }
}

impl<K: fmt::Debug> tower::Service<K> for MemConnector {
    type Response = MemConn;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<MemConn>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: K) -> Self::Future {
        let id = self.log.made.fetch_add(1, Ordering::AcqRel);
        let (client, server) = tokio::io::duplex(1024);
        tokio::spawn(serve(server, self.server));
        std::future::ready(Ok(MemConn {
            made_for: format!("{key:?}"),
            id,
            io: client,
            log: self.log.clone(),
        }))
    }
}

async fn serve(io: DuplexStream, server: MemServer) {
    let (read, mut write) = tokio::io::split(io);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line == "QUIT" && server == MemServer::Echo {
            return;
        }
        if write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
