//! Where TIME_WAIT lands, with the kernel's census as the witness: against
//! an in-process hyper server on a fresh loopback port, every connection the
//! client retires (a last use, an idle one at shutdown) is closed by the
//! server first. hyper-util's legacy client runs the same workload beside it
//! on a server of its own, and both rows are printed.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::rt::TokioExecutor;
use support::{Server, hello};
use timewait_echo::{TimeWaitSides, settled_time_wait};
use timewait_http::Client;

const REQUESTS: usize = 200;
const TASKS: usize = 4;
const SETTLE: Duration = Duration::from_secs(10);

/// The workload: `REQUESTS` GETs of `url` over `TASKS` tasks.
async fn run_timewait(client: &Client, url: &str) {
    support::get_from_tasks(client, url, REQUESTS, TASKS, |_| {}).await;
}

fn row(name: &str, connects: usize, sides: TimeWaitSides) {
    println!(
        "{name:<28} requests {REQUESTS:>4}  connects {connects:>4}  client TW {:>4}  server TW {:>4}",
        sides.client, sides.server
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_uses_and_shutdown_leave_time_wait_on_the_server_only() {
    let server = Server::start(hello()).await;
    let client = Client::builder()
        .max_uses_per_connection(10)
        .build()
        .unwrap();
    run_timewait(&client, &server.url("/")).await;
    let report = client.shutdown(Duration::from_secs(5)).await;
    assert!(report.completed, "{report:?}");
    let sides = settled_time_wait(server.addr, SETTLE).await.unwrap();
    let connects = server.accepted();
    row("timewait-http (max uses 10)", connects, sides);
    assert_eq!(sides.client, 0, "no TIME_WAIT on the client");
    assert_eq!(sides.server, connects, "one on the server per connection");
    let seen = server.seen();
    let closes = seen.iter().filter(|s| s.close).count();
    let farewells = seen
        .iter()
        .filter(|s| s.method == http::Method::OPTIONS)
        .count();
    assert_eq!(
        closes, connects,
        "each connection's last request asked to close"
    );
    assert!(
        seen.iter()
            .filter(|s| s.method == http::Method::OPTIONS)
            .all(|s| s.target == "*")
    );
    assert_eq!(seen.len(), REQUESTS + farewells);
    assert!(connects >= REQUESTS / 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_uses_keep_connections_and_shutdown_hands_them_to_the_server() {
    let server = Server::start(hello()).await;
    let client = Client::new();
    run_timewait(&client, &server.url("/")).await;
    client.shutdown(Duration::from_secs(5)).await;
    let sides = settled_time_wait(server.addr, SETTLE).await.unwrap();
    let connects = server.accepted();
    row("timewait-http (unlimited)", connects, sides);
    assert!(connects <= TASKS);
    assert_eq!(
        sides,
        TimeWaitSides {
            server: connects,
            client: 0
        }
    );
    let options: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == http::Method::OPTIONS)
        .collect();
    assert_eq!(options.len(), connects, "one OPTIONS * per idle connection");
    let host = server.addr.to_string();
    assert!(
        options
            .iter()
            .all(|s| s.close && s.host.as_deref() == Some(host.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_side_by_side() {
    let server = Server::start(hello()).await;
    let legacy: LegacyClient<_, Empty<Bytes>> =
        LegacyClient::builder(TokioExecutor::new()).build_http();
    let url: http::Uri = server.url("/").parse().unwrap();
    support::legacy_get_from_tasks(&legacy, &url, REQUESTS, TASKS)
        .await
        .unwrap();
    drop(legacy);
    let sides = settled_time_wait(server.addr, SETTLE).await.unwrap();
    row("hyper-util-legacy", server.accepted(), sides);
    // Printed for comparison: hyper-util closes its idle connections itself.
    assert_eq!(sides.server, 0);
}
