//! The server's hints: `Keep-Alive: timeout=N` gives a connection its own
//! idle deadline (N less the margin) and the client waits for the server's
//! idle close instead of sending a farewell; `max=M` counts down to a last
//! request carrying `Connection: close`; a response's `Connection: close`
//! ends a connection's use. In-process hyper server on loopback, paused
//! time.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response};
use http_body_util::BodyExt;
use support::{Server, full};
use timewait_http::Client;

async fn get(client: &Client, server: &Server) {
    let response = client.get(server.url("/")).await.unwrap();
    assert!(response.status().is_success());
    response.into_body().collect().await.unwrap();
}

fn with_keep_alive(value: &'static str) -> support::Responder {
    Arc::new(move |_| {
        let mut response = Response::new(full("hello\n"));
        response
            .headers_mut()
            .insert("keep-alive", value.parse().unwrap());
        response
    })
}

#[tokio::test(start_paused = true)]
async fn keep_alive_timeout_sets_the_connections_own_idle_deadline() {
    // The server closes connections idle 5 s, and says so.
    let server =
        Server::start_with(Some(Duration::from_secs(5)), with_keep_alive("timeout=5")).await;
    let client = Client::new(); // idle timeout 90 s, margin 1 s
    get(&client, &server).await;
    tokio::time::sleep(Duration::from_millis(3900)).await;
    get(&client, &server).await;
    assert_eq!(server.accepted(), 1, "reused within timeout less margin");

    // Past 4 s idle the pool stops lending it and waits for the server's
    // own close at 5 s: no farewell, and the server closes first.
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let stats = client.stats().total.activity;
    assert_eq!(stats.reasons.expired, 1, "{stats:?}");
    assert_eq!(stats.retired.by_peer, 1, "{stats:?}");
    get(&client, &server).await;
    assert_eq!(server.accepted(), 2);
    assert!(server.seen().iter().all(|s| s.method == Method::GET));
}

#[tokio::test(start_paused = true)]
async fn keep_alive_max_counts_down_to_a_last_request_with_connection_close() {
    // Apache's way: `max` is the number of requests left after this one.
    let server = Server::start(Arc::new(|seen| {
        let left = 2usize.saturating_sub(seen.nth);
        let mut response = Response::new(full("hello\n"));
        response.headers_mut().insert(
            "keep-alive",
            format!("timeout=60, max={left}").parse().unwrap(),
        );
        response
    }))
    .await;
    let client = Client::new();
    for _ in 0..4 {
        get(&client, &server).await;
    }
    let seen = server.seen();
    let first: Vec<bool> = seen
        .iter()
        .filter(|s| s.conn == 0)
        .map(|s| s.close)
        .collect();
    assert_eq!(first, [false, false, true], "the third is the last allowed");
    assert_eq!(server.accepted(), 2);
    assert_eq!(client.stats().total.activity.retired.by_peer, 1);
}

#[tokio::test(start_paused = true)]
async fn a_response_with_connection_close_ends_the_connections_use() {
    let server = Server::start(Arc::new(|seen| {
        let mut response = Response::new(full("hello\n"));
        if seen.nth == 1 {
            response
                .headers_mut()
                .insert("connection", "close".parse().unwrap());
        }
        response
    }))
    .await;
    let client = Client::new();
    for _ in 0..5 {
        get(&client, &server).await;
    }
    assert_eq!(server.accepted(), 3, "two requests per connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let retired = client.stats().total.activity.retired;
    assert_eq!((retired.by_peer, retired.local), (2, 0), "{retired:?}");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_within_the_margin_means_no_reuse_and_the_servers_close() {
    let server =
        Server::start_with(Some(Duration::from_secs(1)), with_keep_alive("timeout=1")).await;
    let client = Client::new();
    get(&client, &server).await;
    get(&client, &server).await;
    assert_eq!(server.accepted(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let activity = client.stats().total.activity;
    assert_eq!(activity.retired.by_peer, 2, "{activity:?}");
    assert_eq!(activity.retired.local, 0);
    assert!(server.seen().iter().all(|s| !s.close), "nobody had to ask");
}

#[tokio::test(start_paused = true)]
async fn garbage_keep_alive_headers_are_ignored() {
    for value in [
        "timeout=x",
        "max=-1",
        "timeout=99999999999999999999999",
        ",,==;",
        "timeout",
    ] {
        let server = Server::start(with_keep_alive(value)).await;
        let client = Client::new();
        for _ in 0..3 {
            get(&client, &server).await;
        }
        assert_eq!(server.accepted(), 1, "{value}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_known_server_timeout_stands_in_for_the_header() {
    // The server closes connections idle 3 s and does not say so.
    let server = Server::start_with(Some(Duration::from_secs(3)), support::hello()).await;
    let client = Client::builder()
        .server_keep_alive_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    get(&client, &server).await;
    tokio::time::sleep(Duration::from_millis(1900)).await;
    get(&client, &server).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let activity = client.stats().total.activity;
    assert_eq!(
        (activity.reasons.expired, activity.retired.by_peer),
        (1, 1),
        "{activity:?}"
    );
    assert!(
        server.seen().iter().all(|s| s.method == Method::GET),
        "no OPTIONS *"
    );
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn an_http_1_0_answer_without_keep_alive_ends_the_connections_use() {
    use tokio::io::AsyncWriteExt;
    let server = support::RawServer::start(|mut stream, _| async move {
        if support::read_head(&mut stream).await.is_some() {
            // An HTTP/1.0 server closes after its answer.
            let answer = b"HTTP/1.0 200 OK\r\ncontent-length: 6\r\n\r\nhello\n";
            let _ = stream.write_all(answer).await;
        }
    })
    .await;
    let client = Client::new();
    for _ in 0..3 {
        let response = client.get(server.url("/")).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let activity = client.stats().total.activity;
    assert_eq!((activity.connects, activity.reuses), (3, 0), "{activity:?}");
}

#[tokio::test]
async fn asking_for_hints_sends_the_keep_alive_token_except_on_a_last_use() {
    // Apache's way: the hint only for a request that asks.
    let server = Server::start(support::hello()).await;
    let client = Client::builder()
        .ask_for_keep_alive_hints(true)
        .max_uses_per_connection(3)
        .build()
        .unwrap();
    for _ in 0..3 {
        get(&client, &server).await;
    }
    let seen = server.seen();
    let tokens: Vec<Option<String>> = seen.iter().map(|s| s.connection.clone()).collect();
    assert_eq!(
        tokens,
        [
            Some("keep-alive".to_owned()),
            Some("keep-alive".to_owned()),
            Some("close".to_owned())
        ]
    );
}
