//! The lease follows the body: a connection goes back to the pool when its
//! response body has been read to its end, not when the `Response` is
//! dropped; a body dropped unread is drained (bounded) or its connection
//! retired. In-process hyper server on loopback; paused time where a bound
//! matters.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, channel::Channel};
use support::{BoxError, ReplyBody, Server, full};
use timewait_http::Client;

type Sender = http_body_util::channel::Sender<Bytes, BoxError>;

/// `/slow` answers with a body the test sends through the channel it gets;
/// anything else answers `hello\n`.
fn slow_or_hello(senders: Arc<Mutex<Vec<Sender>>>) -> support::Responder {
    Arc::new(move |seen| {
        if seen.target == "/slow" {
            let (tx, body) = Channel::<Bytes, BoxError>::new(4);
            senders.lock().unwrap().push(tx);
            Response::new(ReplyBody::new(body))
        } else {
            Response::new(full("hello\n"))
        }
    })
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: not within the bound");
}

#[tokio::test]
async fn a_connection_is_lent_again_only_once_its_body_is_read_to_the_end() {
    let senders = Arc::default();
    let server = Server::start(slow_or_hello(Arc::clone(&senders))).await;
    let client = Client::new();

    let slow = client.get(server.url("/slow")).await.unwrap();
    assert!(slow.body().holds_connection());
    // The first connection is still lent to the unread body: another
    // request makes a second connection instead of waiting behind it.
    let other = client.get(server.url("/")).await.unwrap();
    other.into_body().collect().await.unwrap();
    assert_eq!(server.accepted(), 2);

    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.send_data(Bytes::from_static(b"part one, "))
        .await
        .unwrap();
    let mut body = slow.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "part one, ");
    assert!(body.holds_connection(), "the body has not ended yet");
    tx.send_data(Bytes::from_static(b"part two")).await.unwrap();
    drop(tx);
    body.frame().await.unwrap().unwrap();
    assert!(body.frame().await.is_none());
    assert!(!body.holds_connection(), "the end of the body releases it");

    for _ in 0..4 {
        let r = client.get(server.url("/")).await.unwrap();
        r.into_body().collect().await.unwrap();
    }
    assert_eq!(server.accepted(), 2, "both connections were reused");
    let activity = client.stats().total.activity;
    assert_eq!((activity.connects, activity.released), (2, 6));
}

#[tokio::test]
async fn dropping_the_response_does_not_release_before_the_body_ends() {
    let senders = Arc::default();
    let server = Server::start(slow_or_hello(Arc::clone(&senders))).await;
    let client = Client::builder()
        .drain_unread(0, Duration::from_secs(1))
        .build()
        .unwrap();
    let slow = client.get(server.url("/slow")).await.unwrap();
    let (_head, body) = slow.into_parts();
    assert!(body.holds_connection());
    assert_eq!(client.stats().total.in_use, 1);
    drop(body); // with no drain allowed: retired, never lent again
    wait_for("the retirement", || {
        client.stats().total.activity.reasons.unreleased == 1
    })
    .await;
    let r = client.get(server.url("/")).await.unwrap();
    r.into_body().collect().await.unwrap();
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_short_body_dropped_unread_is_drained_and_its_connection_reused() {
    let server = Server::start(Arc::new(|_| Response::new(full(include_str!("lease.rs"))))).await;
    let client = Client::new();
    let response = client.get(server.url("/")).await.unwrap();
    drop(response);
    wait_for("the drain", || client.stats().total.activity.released == 1).await;
    let again = client.get(server.url("/")).await.unwrap();
    again.into_body().collect().await.unwrap();
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.stats().total.activity.reuses, 1);
}

#[tokio::test]
async fn a_body_longer_than_the_drain_bound_retires_its_connection() {
    let server = Server::start(Arc::new(|_| Response::new(full(include_str!("lease.rs"))))).await;
    let client = Client::builder()
        .drain_unread(16, Duration::from_secs(1))
        .build()
        .unwrap();
    drop(client.get(server.url("/")).await.unwrap());
    wait_for("the retirement", || {
        client.stats().total.activity.reasons.unreleased == 1
    })
    .await;
    let again = client.get(server.url("/")).await.unwrap();
    again.into_body().collect().await.unwrap();
    assert_eq!(server.accepted(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_is_drained_only_within_the_time_bound() {
    let senders = Arc::default();
    let server = Server::start(slow_or_hello(Arc::clone(&senders))).await;
    let client = Client::builder()
        .drain_unread(1 << 20, Duration::from_secs(1))
        .build()
        .unwrap();
    let slow = client.get(server.url("/slow")).await.unwrap();
    let mut tx = senders.lock().unwrap().pop().unwrap();
    tx.send_data(Bytes::from_static(b"some")).await.unwrap();
    drop(slow);
    // The server never ends the body: after the bound (paused time moves
    // to it at once) the connection is retired, not released.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    wait_for("the retirement", || {
        client.stats().total.activity.reasons.unreleased == 1
    })
    .await;
    assert_eq!(client.stats().total.activity.released, 0);
    drop(tx);
}
