//! Makes [`HttpConnection`]s: a TCP connection from the pool's
//! [`TcpConnector`], TLS over it for `https`, then hyper's handshake.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::SockRef;
use timewait_pool::{Target, TcpConnector};

use crate::connection::{Hints, HttpConnection};
use crate::error::ErrorKind;
use crate::io::Stream;
use crate::origin::Origin;

/// Opens HTTP/1.1 connections to an [`Origin`]: a `tower::Service<Origin>`,
/// the connector of the client's pool.
#[derive(Debug, Clone)]
pub struct HttpConnector {
    tcp: TcpConnector,
    hints: Hints,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
}

impl HttpConnector {
    pub(crate) fn new(tcp: TcpConnector, hints: Hints) -> HttpConnector {
        HttpConnector {
            tcp,
            hints,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(mut self, tls: crate::tls::TlsConnector) -> HttpConnector {
        self.tls = Some(tls);
        self
    }

    async fn connect(self, origin: Origin) -> Result<HttpConnection, ConnectError> {
        if origin.is_https() && !self.has_tls() {
            return Err(ConnectError::NoTls);
        }
        let tcp = self
            .tcp
            .connect(Target::from(&origin))
            .await
            .map_err(ConnectError::Tcp)?;
        let socket = SockRef::from(&tcp)
            .try_clone()
            .map_err(ConnectError::Socket)?;
        let stream = self.secure(&origin, tcp).await?;
        let host = origin.host_header_value().ok();
        HttpConnection::handshake(stream, socket, self.hints, host).await
    }

    #[cfg(feature = "tls")]
    fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    #[cfg(not(feature = "tls"))]
    fn has_tls(&self) -> bool {
        false
    }

    #[cfg(feature = "tls")]
    async fn secure(
        &self,
        origin: &Origin,
        tcp: tokio::net::TcpStream,
    ) -> Result<Stream, ConnectError> {
        match (&self.tls, origin.is_https()) {
            (Some(tls), true) => tls.connect(origin, tcp).await,
            _ => Ok(Stream::Plain(tcp)),
        }
    }

    #[cfg(not(feature = "tls"))]
    async fn secure(
        &self,
        _origin: &Origin,
        tcp: tokio::net::TcpStream,
    ) -> Result<Stream, ConnectError> {
        Ok(Stream::Plain(tcp))
    }
}

impl tower::Service<Origin> for HttpConnector {
    type Response = HttpConnection;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpConnection, ConnectError>> + Send>>;

    /// Always ready.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, origin: Origin) -> Self::Future {
        Box::pin(self.clone().connect(origin))
    }
}

/// Making an HTTP connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TCP connection failed (the pool's connector error).
    #[error(transparent)]
    Tcp(timewait_pool::ConnectError),
    /// An `https` origin, and no TLS configuration (or no `tls` feature).
    #[error("https needs the `tls` feature and a TLS configuration (Builder::tls)")]
    NoTls,
    /// The TLS handshake failed, or ALPN did not choose `http/1.1`.
    #[error("tls handshake failed")]
    Tls(#[source] io::Error),
    /// The socket could not be inspected or duplicated.
    #[error("could not duplicate the socket")]
    Socket(#[source] io::Error),
    /// hyper refused the connection.
    #[error("the http/1.1 handshake failed")]
    Handshake(#[source] hyper::Error),
}

impl ConnectError {
    /// The client error kind this maps to.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            ConnectError::Tcp(e) if e.kind() == io::ErrorKind::TimedOut => ErrorKind::Timeout,
            ConnectError::Tcp(e) if e.is_out_of_ports() => ErrorKind::PortsExhausted,
            ConnectError::NoTls => ErrorKind::UnsupportedScheme,
            ConnectError::Tls(_) => ErrorKind::Tls,
            _ => ErrorKind::Connect,
        }
    }
}
