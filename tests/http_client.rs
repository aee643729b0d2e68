//! The `http-client` example's rows against a hyper server started here,
//! under both clients, with the kernel's census as the witness for where
//! TIME_WAIT lands.
//!
//! Each test runs the real example binary (built by `cargo test` into
//! `target/<profile>/examples/`) against its own server on a loopback port no
//! socket mentions yet, so that the census entries toward that port are this
//! test's alone. Real sockets and real time; every wait is bounded, and only
//! a failure reaches a bound.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use timewait::core::TcpState;
use timewait::core::sys::Census;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Sleep;

const REQUESTS: u64 = 200;
const CONCURRENCY: u64 = 4;
const MAX_USES: u64 = 10;
/// The example's own bounds are shorter; this one is only for a hang.
const EXAMPLE_ENDS_WITHIN: Duration = Duration::from_secs(60);
/// How long the server takes to close after a `Connection: close` response.
/// A client that closes as soon as the response is in (as hyper's client
/// connection does after `Connection: close`) would send its FIN within this
/// window; one that waits for the server's FIN never does.
const SERVER_CLOSE_DELAY: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// The server

/// A hyper HTTP/1.1 server on a fresh loopback port that answers every
/// request with a short body and counts the requests: GETs, and the
/// client's farewells (`OPTIONS *`).
struct Server {
    addr: SocketAddr,
    gets: Arc<AtomicU64>,
    farewells: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Server {
    /// `idle_close`: close connections that wait this long for a request
    /// (hyper's header read timeout, which runs while a connection is idle).
    async fn start(idle_close: Option<Duration>) -> Server {
        let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let gets = Arc::new(AtomicU64::new(0));
        let farewells = Arc::new(AtomicU64::new(0));
        let (g, h) = (gets.clone(), farewells.clone());
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (gets, farewells) = (g.clone(), h.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let counter = if request.method() == Method::OPTIONS {
                        &farewells
                    } else {
                        &gets
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello\n")))) }
                });
                let mut builder = http1::Builder::new();
                if let Some(idle) = idle_close {
                    builder.timer(TokioTimer::new()).header_read_timeout(idle);
                }
                let stream = SlowClose {
                    stream,
                    delay: None,
                };
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    // An idle close ends with a header-timeout error: expected.
                    let _ = connection.await;
                });
            }
        });
        Server {
            addr,
            gets,
            farewells,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The server's socket, whose orderly close (its FIN) waits
/// [`SERVER_CLOSE_DELAY`], so that a client that does not wait for the
/// server's FIN is caught closing first.
struct SlowClose {
    stream: TcpStream,
    delay: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for SlowClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlowClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let delay = self
            .delay
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(SERVER_CLOSE_DELAY)));
        ready!(delay.as_mut().poll(cx));
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------
// The example

/// Runs the example with `--json` and `args`, and parses its one row.
async fn run_example(args: Vec<String>) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        let mut args = args;
        args.insert(0, "--json".to_owned());
        support::run_example_within("http-client", &args, EXAMPLE_ENDS_WITHIN)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("example stdout: {stdout}example stderr: {stderr}");
    assert!(output.status.success(), "the example failed: {stderr}");
    let mut lines = stdout.lines();
    let row: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(lines.next(), None, "one row per run");
    row
}

fn args(url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--url",
        url,
        "--requests",
        &REQUESTS.to_string(),
        "--concurrency",
        &CONCURRENCY.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn number(row: &Value, key: &str) -> u64 {
    row[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {row}"))
}

/// The kernel's own count of TIME_WAIT toward and from the server's port:
/// `(client side, server side)`. The port is this test's alone, and the
/// example waited for every connection to finish closing before it exited.
fn kernel_time_wait(server: SocketAddr) -> (u64, u64) {
    let client = Census::time_wait()
        .remote_port(server.port())
        .list()
        .unwrap();
    let server_side = Census::time_wait()
        .local_port(server.port())
        .list()
        .unwrap();
    assert!(client.iter().all(|e| e.remote == server), "{client:?}");
    assert!(
        server_side.iter().all(|e| e.local == server),
        "{server_side:?}"
    );
    // Nothing of the run is still closing.
    let open = Census::new().port(server.port()).list().unwrap();
    assert!(
        open.iter()
            .all(|e| matches!(e.tcp_state(), Some(TcpState::TimeWait | TcpState::Listen))),
        "{open:?}"
    );
    (client.len() as u64, server_side.len() as u64)
}

/// The keys every row has, whatever the client.
fn assert_row_shape(row: &Value, scenario: &str) {
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "scenario",
        "requests",
        "errors",
        "seconds",
        "req_per_sec",
        "p50_us",
        "p99_us",
        "connects",
        "client_time_wait",
        "server_time_wait",
    ];
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(row["scenario"], scenario);
    assert_eq!(number(row, "requests"), REQUESTS);
    assert_eq!(number(row, "errors"), 0, "{row}");
    assert!(row["seconds"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["req_per_sec"].as_f64().unwrap() > 0.0, "{row}");
    assert!(number(row, "p50_us") <= number(row, "p99_us"), "{row}");
}

// ---------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn the_timewait_client_leaves_every_time_wait_on_the_server() {
    // Each connection's last request carries `Connection: close`, idle ones
    // get `OPTIONS *` with it at shutdown, and the client reads until the
    // server's FIN before closing: the server is the active closer of every
    // connection.
    let server = Server::start(None).await;
    let row = run_example(args(&server.url(), &["--max-uses", &MAX_USES.to_string()])).await;
    assert_row_shape(&row, "timewait-http");

    let connects = number(&row, "connects");
    assert!(
        connects >= REQUESTS / MAX_USES,
        "each connection serves at most {MAX_USES} requests: {row}"
    );
    assert_eq!(number(&row, "client_time_wait"), 0, "{row}");
    assert_eq!(number(&row, "server_time_wait"), connects, "{row}");
    assert_eq!(kernel_time_wait(server.addr), (0, connects));

    assert_eq!(server.gets.load(Ordering::Relaxed), REQUESTS);
    // Farewells go only to connections retired before their last use.
    assert!(server.farewells.load(Ordering::Relaxed) <= connects);
}

#[tokio::test]
async fn waiting_for_the_servers_keep_alive_close_also_leaves_time_wait_on_the_server() {
    // The server closes connections idle for 500 ms without saying so; told
    // that, the client stops lending them after 200 ms and waits for that
    // close instead of sending a farewell (used-up connections still carry
    // `Connection: close` on their last request).
    let server = Server::start(Some(Duration::from_millis(500))).await;
    let extra = [
        "--max-uses",
        &MAX_USES.to_string(),
        "--peer-keep-alive-ms",
        "500",
        "--keep-alive-margin-ms",
        "300",
    ];
    let row = run_example(args(&server.url(), &extra)).await;
    assert_row_shape(&row, "timewait-http");

    let connects = number(&row, "connects");
    assert!(connects >= REQUESTS / MAX_USES, "{row}");
    assert_eq!(number(&row, "client_time_wait"), 0, "{row}");
    assert_eq!(number(&row, "server_time_wait"), connects, "{row}");
    assert_eq!(kernel_time_wait(server.addr), (0, connects));
    assert_eq!(server.gets.load(Ordering::Relaxed), REQUESTS);
    assert_eq!(
        server.farewells.load(Ordering::Relaxed),
        0,
        "no farewell request"
    );
}

#[tokio::test]
async fn the_hyper_util_client_leaves_its_time_wait_on_the_client() {
    // hyper-util keeps its connections alive and, when the client is
    // dropped at exit, closes each one first: one TIME_WAIT per connection,
    // on the client; the server, closing after it, keeps none.
    let server = Server::start(None).await;
    let row = run_example(args(&server.url(), &["--client", "hyper-util"])).await;
    assert_row_shape(&row, "hyper-util-legacy");

    let connects = number(&row, "connects");
    assert!(connects >= 1, "{row}");
    assert_eq!(number(&row, "client_time_wait"), connects, "{row}");
    assert_eq!(number(&row, "server_time_wait"), 0, "{row}");
    assert_eq!(kernel_time_wait(server.addr), (connects, 0));
    assert_eq!(server.gets.load(Ordering::Relaxed), REQUESTS);
}

#[tokio::test]
async fn the_http_server_example_closes_first_when_the_pooled_client_asks() {
    // The server the README runs the client against: the pooled client's
    // `Connection: close` makes it close first, so it holds every entry; it
    // stops on SIGINT and says how many connections it served.
    let server = support::ServerExample::start("http-server", &[]);
    let url = format!("http://{}/", server.addr());
    let row = run_example(args(&url, &["--max-uses", &MAX_USES.to_string()])).await;
    assert_row_shape(&row, "timewait-http");

    let connects = number(&row, "connects");
    assert!(connects >= REQUESTS / MAX_USES, "{row}");
    assert_eq!(number(&row, "server_time_wait"), connects, "{row}");
    assert_eq!(kernel_time_wait(server.addr()), (0, connects));

    let (status, printed) = tokio::task::spawn_blocking(move || server.interrupt())
        .await
        .unwrap();
    assert!(status.success(), "{status}: {printed:?}");
    assert_eq!(printed, [format!("stopped after {connects} connections")]);
}
