//! What the root package's tests share: finding and running the examples.
#![allow(dead_code)] // each test file uses part of it
#![allow(unreachable_pub)] // `pub` here means "for the test files"

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use timewait::core::TcpState;
use timewait::core::sys::Census;

/// How long a server example may take to print a line, or to exit once told.
const SERVER_WITHIN: Duration = Duration::from_secs(20);

/// The path of the example binary `name`, as `cargo test` builds it (into
/// `target/<profile>/examples/`, beside the `deps/` folder this test runs
/// from).
///
/// # Panics
///
/// When it is not there: `cargo test --test <file>` alone does not build the
/// examples; `cargo test --workspace` and `cargo build --examples` do.
pub fn example(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary runs from target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built; run `cargo test --workspace` or `cargo build --examples` first",
        path.display()
    );
    path
}

/// Runs the example `name` with `args` and returns its output, asserting it
/// exited successfully (its stderr is shown when it did not).
pub fn run_example(name: &str, args: &[&str]) -> Output {
    let output = Command::new(example(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run example {name}: {e}"));
    assert!(
        output.status.success(),
        "example {name} {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs the example `name` with `args` to its end and returns its output,
/// whatever its exit status; kills it and panics if it runs past `within`
/// (a hang, not a slow run: give a generous bound).
pub fn run_example_within(name: &str, args: &[String], within: Duration) -> Output {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run example {name}: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("the example's status").is_none() {
        if start.elapsed() > within {
            let _ = child.kill();
            let output = child
                .wait_with_output()
                .expect("the killed example's output");
            panic!(
                "example {name} ran past {within:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the example's output")
}

/// A server example (`echo-server`, `http-server`) running on a loopback
/// port of its own: started with `--listen 127.0.0.1:0`, its address read
/// from its first line, `listening on ADDR`.
pub struct ServerExample {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl ServerExample {
    /// Starts the example `name` with `args` after `--listen 127.0.0.1:0`,
    /// again on another port if the census finds sockets of earlier
    /// connections on the one it got, so that the census entries toward its
    /// port are this test's alone.
    pub fn start(name: &str, args: &[&str]) -> ServerExample {
        for _ in 0..5 {
            let mut child = Command::new(example(name))
                .args(["--listen", "127.0.0.1:0"])
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("could not run example {name}: {e}"));
            let stdout = child.stdout.take().expect("a piped stdout");
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            let first = lines
                .recv_timeout(SERVER_WITHIN)
                .unwrap_or_else(|e| panic!("example {name} printed no first line: {e}"));
            let addr: SocketAddr = first
                .strip_prefix("listening on ")
                .and_then(|addr| addr.parse().ok())
                .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
            let server = ServerExample { child, addr, lines };
            if others_on(addr) == 0 {
                return server;
            }
            // Dropping it kills it; the next start gets another port.
        }
        panic!("five {name} servers in a row got ports that earlier sockets still use");
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server with SIGINT, as Ctrl-C does; returns its exit status
    /// and what it printed after the first line.
    pub fn interrupt(mut self) -> (ExitStatus, Vec<String>) {
        // The shell's own `kill`: no package beyond the shell is needed.
        let kill = Command::new("sh")
            .args(["-c", &format!("kill -INT {}", self.child.id())])
            .status()
            .expect("sh runs");
        assert!(kill.success(), "kill -INT failed: {kill}");
        let mut printed = Vec::new();
        // The reader thread ends when the server closes its stdout.
        while let Ok(line) = self.lines.recv_timeout(SERVER_WITHIN) {
            printed.push(line);
        }
        let status = self.child.wait().expect("the server's exit status");
        (status, printed)
    }
}

impl Drop for ServerExample {
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
        .expect("the census reads the kernel's sockets")
        .iter()
        .filter(|e| !(e.local == addr && e.tcp_state() == Some(TcpState::Listen)))
        .count()
}
