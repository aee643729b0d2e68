//! In-memory connections for pool tests: `tokio::io::duplex` pairs whose
//! server half runs a tiny line protocol, so paused time stays deterministic.
#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use timewait_core::ledger::Destination;
use timewait_pool::{Connection, Health, PeerClose};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
    ReadBuf,
};

/// How the server half of a test connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Echoes lines; on `QUIT` it closes (first).
    Echo,
    /// Echoes lines and never closes, whatever it is told.
    Stubborn,
}

/// How the client side ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Closed,
    Aborted,
}

/// A client half with an id, the address it pretends to reach, and a log of
/// how connections were ended.
pub struct TestConn {
    pub id: usize,
    pub key: &'static str,
    /// What the connection says its peer announced (an HTTP `Keep-Alive`).
    pub peer_idle_limit: Option<std::time::Duration>,
    pub remaining_uses: Option<u64>,
    io: DuplexStream,
    remote: SocketAddr,
    log: Arc<Mutex<Vec<(usize, Ended)>>>,
}

impl TestConn {
    pub async fn echo(&mut self, line: &str) -> io::Result<String> {
        self.io.write_all(format!("{line}\n").as_bytes()).await?;
        let mut buf = vec![0u8; line.len() + 1];
        self.io.read_exact(&mut buf).await?;
        Ok(String::from_utf8_lossy(&buf).trim_end().to_owned())
    }
}

impl AsyncRead for TestConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for TestConn {
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

impl Connection for TestConn {
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
        Some(Destination::new(self.remote))
    }

    fn peer_idle_limit(&self) -> Option<std::time::Duration> {
        self.peer_idle_limit
    }

    fn remaining_uses(&self) -> Option<u64> {
        self.remaining_uses
    }

    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        let mut discard = [0u8; 64];
        loop {
            if self.io.read(&mut discard).await? == 0 {
                return Ok(PeerClose::Fin);
            }
        }
    }

    fn close(self) {
        self.log.lock().unwrap().push((self.id, Ended::Closed));
    }

    fn abort(self) {
        self.log.lock().unwrap().push((self.id, Ended::Aborted));
    }
}

/// Makes test connections; every key maps to one pretend address.
#[derive(Clone, Debug)]
pub struct Connector {
    pub server: Server,
    pub made: Arc<AtomicUsize>,
    pub log: Arc<Mutex<Vec<(usize, Ended)>>>,
}

impl Connector {
    pub fn new(server: Server) -> Self {
        Connector {
            server,
            made: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    pub fn ended(&self) -> Vec<(usize, Ended)> {
        self.log.lock().unwrap().clone()
    }
}

impl tower::Service<&'static str> for Connector {
    type Response = TestConn;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<TestConn>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: &'static str) -> Self::Future {
        let id = self.made.fetch_add(1, Ordering::SeqCst);
        let (client, server) = tokio::io::duplex(4096);
        tokio::spawn(serve(server, self.server));
        std::future::ready(Ok(TestConn {
            id,
            key,
            peer_idle_limit: None,
            remaining_uses: None,
            io: client,
            remote: "127.0.0.1:7".parse().unwrap(),
            log: self.log.clone(),
        }))
    }
}

async fn serve(io: DuplexStream, server: Server) {
    let (read, mut write) = tokio::io::split(io);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line == "QUIT" && server == Server::Echo {
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

/// Lets spawned tasks run without moving the clock.
pub async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}
