//! `https` against a TLS server of the test's own (hyper over tokio-rustls,
//! with a certificate made at run time): the server's close_notify and FIN
//! are read before the client closes, so TIME_WAIT lands on the server; a
//! certificate the client does not trust is a TLS error naming the origin.
#![cfg(all(target_os = "linux", feature = "tls"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::tls::TestCert;
use timewait_echo::{TimeWaitSides, settled_time_wait};
use timewait_http::{Client, ErrorKind};
use tokio::task::JoinHandle;

/// A hyper server behind TLS on a fresh loopback port; it closes (with
/// close_notify, then FIN) when a request asks it to.
async fn tls_server(cert: &TestCert) -> (SocketAddr, JoinHandle<()>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cert.server_config()));
    let listener = timewait_echo::fresh_listener(Ipv4Addr::LOCALHOST.into())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|_| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello\n"))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, accept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_server_closes_every_connection_first() {
    let cert = TestCert::new();
    let (addr, accept) = tls_server(&cert).await;
    let client = Client::builder()
        .tls(cert.client_config())
        .max_uses_per_connection(5)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/", addr.port());
    for _ in 0..22 {
        let response = client.get(url.as_str()).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello\n");
    }
    // 4 connections used up by `Connection: close`, 1 idle at shutdown
    // (closed by the server after `OPTIONS *`).
    let report = client.shutdown(Duration::from_secs(5)).await;
    assert!(report.completed);
    let activity = client.stats().total.activity;
    assert_eq!(activity.connects, 5);
    assert_eq!(
        (activity.retired.by_peer, activity.retired.local),
        (5, 0),
        "{activity:?}"
    );
    let sides = settled_time_wait(addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        sides,
        TimeWaitSides {
            server: 5,
            client: 0
        }
    );
    accept.abort();
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let served = TestCert::new();
    let (addr, accept) = tls_server(&served).await;
    let other = TestCert::new();
    let client = Client::builder()
        .tls(other.client_config())
        .build()
        .unwrap();
    let error = client
        .get(format!("https://localhost:{}/", addr.port()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error:?}");
    assert!(error.is_connect());
    assert!(error.origin().unwrap().is_https());
    accept.abort();
}

#[tokio::test]
async fn https_without_a_tls_configuration_says_what_to_set() {
    let client = Client::new();
    let error = client.get("https://127.0.0.1:9/").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnsupportedScheme);
    assert!(format!("{:?}", error).contains("NoTls"), "{error:?}");
}
