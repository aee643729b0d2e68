//! TLS for `https` origins (feature `tls`): rustls through tokio-rustls,
//! ALPN `http/1.1`, with the roots and settings of the user's
//! [`rustls::ClientConfig`].

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::connector::ConnectError;
use crate::io::Stream;
use crate::origin::Origin;

/// The ALPN protocol this client speaks.
const HTTP_1_1: &[u8] = b"http/1.1";

/// The client's TLS connector: the user's configuration with ALPN set to
/// `http/1.1` (HTTP/2 is out of scope).
#[derive(Clone)]
pub(crate) struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
}

impl TlsConnector {
    pub(crate) fn new(config: rustls::ClientConfig) -> TlsConnector {
        let mut config = config;
        config.alpn_protocols = vec![HTTP_1_1.to_vec()];
        TlsConnector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    pub(crate) async fn connect(
        &self,
        origin: &Origin,
        tcp: TcpStream,
    ) -> Result<Stream, ConnectError> {
        let name = ServerName::try_from(origin.hostname().to_owned())
            .map_err(|e| ConnectError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let tls = self
            .inner
            .connect(name, tcp)
            .await
            .map_err(ConnectError::Tls)?;
        match tls.get_ref().1.alpn_protocol() {
            None | Some(HTTP_1_1) => Ok(Stream::Tls(Box::new(tls))),
            Some(other) => Err(ConnectError::Tls(io::Error::other(format!(
                "the server chose ALPN {:?}, not http/1.1",
                String::from_utf8_lossy(other)
            )))),
        }
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}
