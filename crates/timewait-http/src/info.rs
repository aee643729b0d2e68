//! What a response says of the connection it came on.

use std::net::SocketAddr;

/// The connection a response came on, in the response's extensions (as
/// hyper-util's `HttpInfo`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let addr = listener.local_addr()?;
/// # tokio::spawn(async move {
/// #     let (stream, _) = listener.accept().await.unwrap();
/// #     let _ = hyper::server::conn::http1::Builder::new().serve_connection(
/// #         hyper_util::rt::TokioIo::new(stream),
/// #         hyper::service::service_fn(|_| async {
/// #             Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// #         }),
/// #     ).await;
/// # });
/// use timewait_http::{Client, ConnectionInfo};
///
/// let client = Client::new();
/// let response = client.get(format!("http://{addr}/")).await?;
/// let info = response.extensions().get::<ConnectionInfo>().expect("always set");
/// assert_eq!(info.remote_addr(), addr);
/// assert!(!info.is_reused());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) reused: bool,
    pub(crate) tls: bool,
}

impl ConnectionInfo {
    /// The connection's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the connection had served an earlier request.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}
