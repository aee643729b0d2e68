//! The echo-server and echo-client examples, run as CI runs them: the server
//! on a fresh loopback port, the client through the pool under each close
//! policy, the kernel's census as the witness of where TIME_WAIT landed, and
//! the server stopped with SIGINT.
//!
//! Each test runs its own server, so the server's port tells its sockets
//! from those of the tests beside it. Every wait is bounded, and only a
//! failure reaches a bound.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::{ServerExample, run_example};
use timewait_echo::{TimeWaitSides, exchange, settled_time_wait};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A bound for a hang only; every wait ends long before it unless a test
/// fails.
const HANG: Duration = Duration::from_secs(20);

/// How long the kernel may take to finish closing the connections.
const SETTLE: Duration = Duration::from_secs(10);
const REQUESTS: &str = "300";
/// Each connection serves this many requests, so the run makes about 30.
const MAX_USES: &str = "10";

/// Runs the echo client against `server` (`IP:port` or `host:port`) under
/// `policy`; returns its JSON report, checked to have no errors and a
/// completed shutdown.
fn client(server: &str, policy: &str) -> Value {
    let output = run_example(
        "echo-client",
        &[
            "--server",
            server,
            "--requests",
            REQUESTS,
            "--concurrency",
            "4",
            "--max-uses",
            MAX_USES,
            "--policy",
            policy,
            "--json",
        ],
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["shutdown_completed"], true, "{report}");
    assert!(report["connects"].as_u64().unwrap() >= 30, "{report}");
    report
}

fn n(report: &Value, path: &[&str]) -> usize {
    let value = path.iter().fold(report, |v, key| &v[*key]);
    usize::try_from(value.as_u64().unwrap()).unwrap()
}

async fn sides(server: SocketAddr) -> TimeWaitSides {
    settled_time_wait(server, SETTLE).await.unwrap()
}

/// Stops `server` with SIGINT and checks that it exited successfully.
fn stop(server: ServerExample) -> Vec<String> {
    let (status, printed) = server.interrupt();
    assert!(
        status.success(),
        "the server exited with {status}: {printed:?}"
    );
    printed
}

#[tokio::test]
async fn peer_first_client_leaves_time_wait_on_the_server_port_only() {
    // The pool sends QUIT; the server closes first, so it holds every
    // connection's TIME_WAIT entry and the client none.
    let server = ServerExample::start("echo-server", &[]);
    // Named as a user would: the client resolves it.
    let report = client(&format!("localhost:{}", server.addr().port()), "peer-first");
    let connects = n(&report, &["connects"]);
    assert_eq!(n(&report, &["retired", "by_peer"]), connects, "{report}");
    assert_eq!(n(&report, &["retired", "local"]), 0, "{report}");
    assert_eq!(
        sides(server.addr()).await,
        TimeWaitSides {
            server: connects,
            client: 0
        }
    );
    stop(server);
}

#[tokio::test]
async fn local_client_leaves_time_wait_on_its_own_side_only() {
    // The pool closes first: every entry is the client's, toward the
    // server's port.
    let server = ServerExample::start("echo-server", &[]);
    let report = client(&server.addr().to_string(), "local");
    let connects = n(&report, &["connects"]);
    assert_eq!(n(&report, &["retired", "local"]), connects, "{report}");
    assert_eq!(n(&report, &["retired", "by_peer"]), 0, "{report}");
    assert_eq!(
        sides(server.addr()).await,
        TimeWaitSides {
            server: 0,
            client: connects
        }
    );
    stop(server);
}

#[tokio::test]
async fn abort_client_leaves_time_wait_on_neither_side() {
    // A reset ends the connection on both sides at once: no TIME_WAIT.
    let server = ServerExample::start("echo-server", &[]);
    let report = client(&server.addr().to_string(), "abort");
    let connects = n(&report, &["connects"]);
    assert_eq!(n(&report, &["retired", "aborted"]), connects, "{report}");
    assert_eq!(sides(server.addr()).await, TimeWaitSides::default());
    stop(server);
}

#[test]
fn echo_server_exits_cleanly_on_sigint_and_prints_its_counts() {
    // After a peer-first run every connection ended with QUIT, the server
    // closing first; SIGINT then stops the server with exit status 0.
    let server = ServerExample::start("echo-server", &[]);
    // Named as a user would: the client resolves it.
    let report = client(&format!("localhost:{}", server.addr().port()), "peer-first");
    let connects = n(&report, &["connects"]);
    let printed = stop(server);
    let line = |label: &str| {
        printed
            .iter()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in {printed:?}"))
            .clone()
    };
    assert_eq!(
        line("connections accepted"),
        format!("connections accepted      {connects}")
    );
    assert_eq!(
        line("lines echoed"),
        format!("lines echoed              {REQUESTS}")
    );
    assert!(
        line("closed first by server").starts_with(&format!(
            "closed first by server    {connects} (QUIT {connects}, idle 0, shutdown 0)"
        )),
        "{printed:?}"
    );
}

#[tokio::test]
async fn echo_server_closes_an_idle_connection_first() {
    // With `--idle-timeout`, a connection that goes quiet after a request is
    // closed by the server: the client reads the server's FIN (EOF) before it
    // closes, so the entry lands on the server's port, and the server counts
    // the close as an idle one.
    let server = ServerExample::start("echo-server", &["--idle-timeout", "200ms"]);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut reply = Vec::new();
    exchange(&mut stream, b"hello\n", &mut reply).await.unwrap();
    assert_eq!(reply, b"hello\n");
    let mut rest = [0_u8; 16];
    let read = tokio::time::timeout(HANG, stream.read(&mut rest)).await;
    assert_eq!(
        read.unwrap().unwrap(),
        0,
        "the server's FIN, with no data before it"
    );
    drop(stream);
    assert_eq!(
        sides(server.addr()).await,
        TimeWaitSides {
            server: 1,
            client: 0
        }
    );
    let printed = stop(server);
    assert!(
        printed
            .iter()
            .any(|l| l.starts_with("closed first by server    1 (QUIT 0, idle 1, shutdown 0)")),
        "{printed:?}"
    );
}
