//! STAND-IN until the connector lands.
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// Stand-in connector.
#[derive(Debug, Clone, Default)]
pub struct TcpConnector;
impl TcpConnector {
    /// Stand-in.
    pub fn new() -> Self {
        TcpConnector
    }
}
impl tower::Service<SocketAddr> for TcpConnector {
    type Response = TcpStream;
    type Error = std::io::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<TcpStream>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, addr: SocketAddr) -> Self::Future {
        Box::pin(TcpStream::connect(addr))
    }
}
