//! Typed errors that name the origin, and no panic on what a server sends:
//! a malformed response, a close mid-body, a refused connection.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use http_body_util::BodyExt;
use support::{RawServer, read_head};
use timewait_http::{Client, ErrorKind};
use tokio::io::AsyncWriteExt;

/// A server that answers each request head with `reply`, then closes.
async fn replying(reply: &'static [u8]) -> RawServer {
    RawServer::start(move |mut stream, _| async move {
        if read_head(&mut stream).await.is_some() {
            let _ = stream.write_all(reply).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_malformed_response_is_a_protocol_error_naming_the_origin() {
    for reply in [
        &b"garbage\r\n\r\n"[..],
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        b"\x00\xff\xfe",
        b"",
    ] {
        let server = replying(reply).await;
        let client = Client::new();
        let error = client.get(server.url("/")).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Protocol, "{reply:?}: {error}");
        assert_eq!(error.origin().unwrap().port(), server.addr.port());
        assert!(
            error.to_string().contains(&server.addr.to_string()),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_close_mid_body_is_an_error_of_the_body() {
    let server = replying(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..").await;
    let client = Client::new();
    let response = client.get(server.url("/")).await.unwrap();
    let error = response.into_body().collect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert!(error.origin().is_some());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The server's FIN was in: its close, not ours.
    assert_eq!(client.stats().total.activity.retired.local, 0);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new();
    let error = client.get(format!("http://{addr}/")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error:?}");
    assert!(error.is_connect());
    assert_eq!(
        error.origin().unwrap().to_string(),
        format!("http://{addr}")
    );
}

#[tokio::test]
async fn bad_uris_and_a_closed_client_are_typed() {
    let client = Client::new();
    assert_eq!(
        client.get("/relative").await.unwrap_err().kind(),
        ErrorKind::InvalidUri
    );
    assert_eq!(
        client.get("ftp://a/").await.unwrap_err().kind(),
        ErrorKind::UnsupportedScheme
    );
    assert_eq!(
        client.get("not a uri").await.unwrap_err().kind(),
        ErrorKind::InvalidUri
    );
    client.shutdown(Duration::from_secs(1)).await;
    let error = client.get("http://127.0.0.1:9/").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PoolClosed);
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn https_without_the_tls_feature_says_so() {
    let client = Client::new();
    let error = client.get("https://127.0.0.1:9/").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnsupportedScheme, "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn waiting_past_the_checkout_timeout_is_a_timeout_naming_the_origin() {
    // One connection per origin, held by a body the server never finishes.
    let server = RawServer::start(|mut stream, _| async move {
        if read_head(&mut stream).await.is_some() {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nten bytes.")
                .await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    })
    .await;
    let client = Client::builder()
        .max_connections_per_host(1)
        .checkout_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let held = client.get(server.url("/")).await.unwrap();
    let error = client.get(server.url("/")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error:?}");
    assert!(error.is_timeout());
    assert_eq!(error.origin().unwrap().port(), server.addr.port());
    drop(held);
}
