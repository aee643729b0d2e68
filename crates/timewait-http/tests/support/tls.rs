//! A certificate made at run time (rcgen) for `localhost` and 127.0.0.1,
//! written as PEM files for nginx, with the client and server
//! configurations that trust and use it.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestCert {
    _dir: tempfile::TempDir,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCert {
    pub fn new() -> TestCert {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_pem, made.cert.pem()).unwrap();
        std::fs::write(&key_pem, made.signing_key.serialize_pem()).unwrap();
        TestCert {
            _dir: dir,
            cert_pem,
            key_pem,
            cert_der: made.cert.der().clone(),
            key_der: made.signing_key.serialize_der(),
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A client configuration whose only root is this certificate.
    pub fn client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).unwrap();
        rustls::ClientConfig::builder_with_provider(Self::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A server configuration with this certificate, ALPN `http/1.1`.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(Self::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }
}

/// A connector for hyper-util's legacy client that speaks TLS with a
/// configuration, so that it can run beside `timewait-http` over `https`.
#[derive(Clone)]
pub struct LegacyTlsConnector {
    tls: tokio_rustls::TlsConnector,
    /// Connections made.
    pub connects: Arc<std::sync::atomic::AtomicU64>,
}

impl LegacyTlsConnector {
    pub fn new(config: rustls::ClientConfig) -> LegacyTlsConnector {
        let mut config = config;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        LegacyTlsConnector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            connects: Arc::default(),
        }
    }
}

/// TLS over TCP, as hyper-util's legacy client wants a transport.
pub struct TlsTcp(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl tower::Service<http::Uri> for LegacyTlsConnector {
    type Response = hyper_util::rt::TokioIo<TlsTcp>;
    type Error = super::BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, super::BoxError>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), super::BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.tls.clone();
        let connects = self.connects.clone();
        Box::pin(async move {
            connects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let host = uri.host().ok_or("no host")?.to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let name = rustls::pki_types::ServerName::try_from(host)?;
            let stream = tls.connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(TlsTcp(stream)))
        })
    }
}

impl hyper_util::client::legacy::connect::Connection for TlsTcp {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
