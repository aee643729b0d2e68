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

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::{example, run_example};
use timewait::core::TcpState;
use timewait::core::sys::Census;
use timewait_echo::{TimeWaitSides, settled_time_wait};

/// How long the server may take to print a line, or to exit once told.
const WITHIN: Duration = Duration::from_secs(20);
/// How long the kernel may take to finish closing the connections.
const SETTLE: Duration = Duration::from_secs(10);
const REQUESTS: &str = "300";
/// Each connection serves this many requests, so the run makes about 30.
const MAX_USES: &str = "10";

/// A running echo-server example.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the server on `127.0.0.1:0`, again on another port if the
    /// census finds sockets of earlier connections on the one it got.
    fn start() -> Server {
        for _ in 0..5 {
            let mut child = Command::new(example("echo-server"))
                .args(["--listen", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            let first = lines.recv_timeout(WITHIN).unwrap();
            let addr: SocketAddr = first
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
                .parse()
                .unwrap();
            let server = Server { child, addr, lines };
            if others_on(addr) == 0 {
                return server;
            }
            // Dropping it kills it; the next start gets another port.
        }
        panic!("five echo servers in a row got ports that earlier sockets still use");
    }

    /// Stops the server with SIGINT, as Ctrl-C does; returns its exit status
    /// and what it printed after the first line.
    fn interrupt(mut self) -> (ExitStatus, Vec<String>) {
        let kill = Command::new("sh")
            .args(["-c", &format!("kill -INT {}", self.child.id())])
            .status()
            .unwrap();
        assert!(kill.success(), "kill -INT failed: {kill}");
        let mut printed = Vec::new();
        // The reader thread ends when the server closes its stdout.
        while let Ok(line) = self.lines.recv_timeout(WITHIN) {
            printed.push(line);
        }
        let status = self.child.wait().unwrap();
        (status, printed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only a test that failed before interrupting gets here with the
        // server running; an exited one is not signalled again.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sockets other than the listener at `addr` whose local or remote port is
/// `addr`'s.
fn others_on(addr: SocketAddr) -> usize {
    Census::new()
        .port(addr.port())
        .list()
        .unwrap()
        .iter()
        .filter(|e| !(e.local == addr && e.tcp_state() == Some(TcpState::Listen)))
        .count()
}

/// Runs the echo client against `server` under `policy`; returns its JSON
/// report, checked to have no errors and a completed shutdown.
fn client(server: SocketAddr, policy: &str) -> Value {
    let output = run_example(
        "echo-client",
        &[
            "--server",
            &server.to_string(),
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
fn stop(server: Server) -> Vec<String> {
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
    let server = Server::start();
    let report = client(server.addr, "peer-first");
    let connects = n(&report, &["connects"]);
    assert_eq!(n(&report, &["retired", "by_peer"]), connects, "{report}");
    assert_eq!(n(&report, &["retired", "local"]), 0, "{report}");
    assert_eq!(
        sides(server.addr).await,
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
    let server = Server::start();
    let report = client(server.addr, "local");
    let connects = n(&report, &["connects"]);
    assert_eq!(n(&report, &["retired", "local"]), connects, "{report}");
    assert_eq!(n(&report, &["retired", "by_peer"]), 0, "{report}");
    assert_eq!(
        sides(server.addr).await,
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
    let server = Server::start();
    let report = client(server.addr, "abort");
    let connects = n(&report, &["connects"]);
    assert_eq!(n(&report, &["retired", "aborted"]), connects, "{report}");
    assert_eq!(sides(server.addr).await, TimeWaitSides::default());
    stop(server);
}

#[test]
fn echo_server_exits_cleanly_on_sigint_and_prints_its_counts() {
    // After a peer-first run every connection ended with QUIT, the server
    // closing first; SIGINT then stops the server with exit status 0.
    let server = Server::start();
    let report = client(server.addr, "peer-first");
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
