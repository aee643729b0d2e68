//! The readiness probe's connection: one request through a codec, then a
//! close that leaves no TIME_WAIT on either side, so probing a server does
//! not disturb a test that counts its TIME_WAIT entries.
//!
//! Every probe connection ends in a reset (`SO_LINGER` zero), whichever way
//! the probe went: a server that refused the probe (PostgreSQL while it
//! starts) closes too, and an ordinary close would race its FIN.

use std::io;
use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

/// A probe's connection to a server and what it has read.
#[derive(Debug)]
pub(crate) struct Probe {
    stream: TcpStream,
    buf: BytesMut,
}

impl Probe {
    /// Connects to `addr`.
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Encodes `item` with `codec` and sends it.
    pub(crate) async fn send<C, I>(&mut self, codec: &mut C, item: I) -> io::Result<()>
    where
        C: Encoder<I>,
        C::Error: std::error::Error + Send + Sync + 'static,
    {
        let mut out = BytesMut::new();
        codec.encode(item, &mut out).map_err(io::Error::other)?;
        self.stream.write_all(&out).await
    }

    /// Reads until `codec` decodes one item.
    pub(crate) async fn receive<D>(&mut self, codec: &mut D) -> io::Result<D::Item>
    where
        D: Decoder,
        D::Error: std::error::Error + Send + Sync + 'static,
    {
        loop {
            if let Some(item) = codec.decode(&mut self.buf).map_err(io::Error::other)? {
                return Ok(item);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Sends raw bytes.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads until the server's FIN (the caller has asked it to close),
    /// then resets the connection: the server's socket, waiting in
    /// FIN_WAIT_2, ends on the reset instead of entering TIME_WAIT, and this
    /// side's never would. Returns what was read and not yet decoded.
    pub(crate) async fn close_after_server(mut self) -> io::Result<BytesMut> {
        while self.stream.read_buf(&mut self.buf).await? != 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}

impl Drop for Probe {
    /// Resets the connection.
    fn drop(&mut self) {
        if let Err(e) = self.stream.set_zero_linger() {
            tracing::debug!(error = %e, "probe: cannot set a zero linger");
        }
    }
}
