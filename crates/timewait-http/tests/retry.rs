//! The reuse race: a request that fails on a reused connection before the
//! server could act on it is sent again, once, on another connection; no
//! other request is. A raw server on loopback closes the connection exactly
//! where each case needs it.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Method, Request};
use http_body_util::BodyExt;
use support::{RawServer, read_head};
use timewait_http::{Body, Client, ErrorKind};
use tokio::io::AsyncWriteExt;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhello\n";

/// Connection 0 answers its first request, then reads the second and
/// closes without a byte of answer (`partial`: with the start of a status
/// line); later connections answer everything. Counts the requests read.
async fn racing_server(partial: bool) -> (RawServer, Arc<AtomicUsize>) {
    let heads = Arc::new(AtomicUsize::new(0));
    let counted = heads.clone();
    let server = RawServer::start(move |mut stream, conn| {
        let heads = counted.clone();
        async move {
            let mut nth = 0;
            while read_head(&mut stream).await.is_some() {
                heads.fetch_add(1, Ordering::SeqCst);
                if conn == 0 && nth == 1 {
                    if partial {
                        let _ = stream.write_all(b"HTTP/1.1 2").await;
                    }
                    return; // dropped: the server closes (FIN)
                }
                if stream.write_all(OK).await.is_err() {
                    return;
                }
                nth += 1;
            }
        }
    })
    .await;
    (server, heads)
}

async fn send(client: &Client, request: Request<Body>) -> Result<(), timewait_http::Error> {
    let response = client.request(request).await?;
    response.into_body().collect().await?;
    Ok(())
}

fn request(server: &RawServer, method: Method, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(server.url("/"))
        .body(body)
        .unwrap()
}

/// A first GET through `client`, answered: it leaves a connection to
/// `server` for the next request to reuse.
async fn first_get(client: &Client, server: &RawServer) {
    send(client, request(server, Method::GET, Body::empty()))
        .await
        .unwrap();
}

/// A [`racing_server`] and a new client whose first GET it answered: the
/// client's next request goes on that reused connection, which the server
/// closes unanswered.
async fn racing_after_a_first_get(partial: bool) -> (RawServer, Arc<AtomicUsize>, Client) {
    let (server, heads) = racing_server(partial).await;
    let client = Client::new();
    first_get(&client, &server).await;
    (server, heads, client)
}

/// A server that reads one request on each connection, counts it, answers
/// `OK` if `answer`, and closes without a word. Counts the requests read.
async fn one_request_server(answer: bool) -> (RawServer, Arc<AtomicUsize>) {
    let heads = Arc::new(AtomicUsize::new(0));
    let counted = heads.clone();
    let server = RawServer::start(move |mut stream, _| {
        let heads = counted.clone();
        async move {
            if read_head(&mut stream).await.is_some() {
                heads.fetch_add(1, Ordering::SeqCst);
                if answer {
                    let _ = stream.write_all(OK).await;
                }
            }
        }
    })
    .await;
    (server, heads)
}

#[tokio::test]
async fn an_idempotent_request_whose_reused_connection_closed_unanswered_is_retried_once() {
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
        let (server, heads, client) = racing_after_a_first_get(false).await;
        send(&client, request(&server, method.clone(), Body::from("x")))
            .await
            .unwrap();
        assert_eq!(heads.load(Ordering::SeqCst), 3, "{method}: sent twice");
        assert_eq!(client.stats().total.activity.connects, 2);
    }
}

#[tokio::test]
async fn a_post_is_not_retried_unless_it_carries_an_idempotency_key() {
    let (server, heads, client) = racing_after_a_first_get(false).await;
    let error = send(&client, request(&server, Method::POST, Body::from("x")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert_eq!(error.origin().unwrap().port(), server.addr.port());
    assert_eq!(heads.load(Ordering::SeqCst), 2, "sent once");

    let (server, heads, client) = racing_after_a_first_get(false).await;
    let mut keyed = request(&server, Method::POST, Body::from("x"));
    keyed
        .headers_mut()
        .insert("idempotency-key", "k1".parse().unwrap());
    send(&client, keyed).await.unwrap();
    assert_eq!(heads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_streamed_body_is_not_replayed() {
    let (server, heads, client) = racing_after_a_first_get(false).await;
    let streamed = Body::wrap(http_body_util::Full::new(bytes::Bytes::from("x")));
    assert!(
        send(&client, request(&server, Method::PUT, streamed))
            .await
            .is_err()
    );
    assert_eq!(heads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_request_whose_answer_had_begun_is_not_retried() {
    let (server, heads, client) = racing_after_a_first_get(true).await;
    let error = send(&client, request(&server, Method::GET, Body::empty()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(heads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn nothing_is_retried_when_retries_are_off() {
    let (server, heads) = racing_server(false).await;
    let client = Client::builder()
        .retry_canceled_requests(false)
        .build()
        .unwrap();
    first_get(&client, &server).await;
    assert!(
        send(&client, request(&server, Method::GET, Body::empty()))
            .await
            .is_err()
    );
    assert_eq!(heads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_new_connection_that_fails_is_not_retried() {
    let (server, heads) = one_request_server(false).await;
    let client = Client::new();
    let error = client.get(server.url("/")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(heads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_its_server_closed_while_idle_is_never_lent() {
    // Each connection answers one request, then the server closes it
    // without a word (a restart, a timeout it did not announce).
    let (server, heads) = one_request_server(true).await;
    let client = Client::new();
    first_get(&client, &server).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Not idempotent, so never retried: it must go on a new connection.
    send(&client, request(&server, Method::POST, Body::from("x")))
        .await
        .unwrap();
    assert_eq!(heads.load(Ordering::SeqCst), 2);
    let activity = client.stats().total.activity;
    assert_eq!(
        (activity.connects, activity.reasons.peer_closed),
        (2, 1),
        "{activity:?}"
    );
}
