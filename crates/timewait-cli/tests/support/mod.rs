//! What the namespace tests share: a network namespace of their own, filled
//! with a known number of TIME_WAIT entries on each side, the binary run
//! inside it, and `ss` as the witness.
//!
//! The approach is the root reliability suite's (`tests/reliability/netns.rs`):
//! `ip netns add`, a thread that enters the namespace with `setns(2)` (a
//! socket belongs to the namespace of the thread that makes it), and a
//! guard that deletes the namespace when dropped, also when a test fails.
//! The binary and `ss` run inside with `ip netns exec`.

// Each test file uses a part of this module.
#![allow(dead_code, unreachable_pub)] // `pub` here means "for the test files"

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

/// The environment variable that turns a skip into a failure (CI sets it).
pub const REQUIRE_VAR: &str = "TIMEWAIT_REQUIRE_NETNS";
/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_timewait");

const PREFIX: &str = "twcli-";
static NEXT: AtomicU32 = AtomicU32::new(0);
static CLEAN_STALE: Once = Once::new();

/// A network namespace with its loopback up; dropping it deletes it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Creates a namespace, or says why it cannot: a printed skip (`None`), or
/// a failure when `TIMEWAIT_REQUIRE_NETNS=1`.
pub fn netns_or_skip(test: &str) -> Option<Netns> {
    match Netns::create() {
        Ok(ns) => Some(ns),
        Err(reason) => {
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {REQUIRE_VAR}=1 but network namespaces are unavailable: {reason}");
            }
            eprintln!(
                "{test}: skipped: network namespaces are unavailable ({reason}); set {REQUIRE_VAR}=1 to make this a failure"
            );
            None
        }
    }
}

impl Netns {
    fn create() -> Result<Netns, String> {
        if !nix::unistd::Uid::effective().is_root() {
            return Err("not running as root".to_owned());
        }
        ip(&["-V"]).map_err(|e| format!("the `ip` command (iproute2) is not usable: {e}"))?;
        CLEAN_STALE.call_once(delete_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ns = Netns {
            name: format!("{PREFIX}{}-{n}", std::process::id()),
        };
        ip(&["netns", "add", &ns.name])?;
        // From here on, dropping `ns` deletes it.
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let handle = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            setns(&handle, CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|_| panic!("the thread in namespace {} panicked", self.name))
    }

    /// Runs `program args…` inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {program}: {e}"))
    }

    /// Runs the binary inside the namespace; it must succeed, and its
    /// stdout is returned.
    pub fn timewait(&self, args: &[&str]) -> String {
        let output = self.exec(BIN, args);
        assert!(
            output.status.success(),
            "timewait {args:?}: {}; stderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// `ss -Htan state time-wait` inside the namespace, as (local, peer) pairs.
    pub fn ss_time_wait(&self) -> Vec<(SocketAddr, SocketAddr)> {
        let output = self.exec("ss", &["-Htan", "state", "time-wait"]);
        assert!(output.status.success(), "ss: {}", output.status);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let addrs: Vec<SocketAddr> = line
                    .split_whitespace()
                    .filter_map(|word| word.parse().ok())
                    .collect();
                assert_eq!(addrs.len(), 2, "an ss line with two endpoints: {line:?}");
                (addrs[0], addrs[1])
            })
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("could not delete network namespace {}: {e}", self.name);
        }
    }
}

/// What [`fill`] made: each client-side destination with its count, and
/// the server-side port with its count. The listeners stay open (a port is
/// the server's side only while it listens).
#[derive(Debug)]
pub struct Filled {
    pub listeners: Vec<TcpListener>,
    pub client: Vec<(SocketAddr, usize)>,
    pub server: (SocketAddr, usize),
}

impl Filled {
    pub fn client_total(&self) -> usize {
        self.client.iter().map(|(_, n)| n).sum()
    }

    pub fn total(&self) -> usize {
        self.client_total() + self.server.1
    }
}

/// Inside the namespace: turns `tcp_tw_reuse` off, then makes `n`
/// connections toward each of `client` (IPs of the loopback), each closed by
/// the client first (a client-side TIME_WAIT entry), and `server`
/// connections to one more listener, each closed by the server first (a
/// server-side entry). Waits until `/proc/net/sockstat` counts them all.
pub fn fill(ns: &Netns, client: &[(Ipv4Addr, usize)], server: usize) -> Filled {
    let client = client.to_vec();
    ns.run(move || {
        std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", "0").expect("tcp_tw_reuse=0");
        let mut listeners = Vec::new();
        let mut made = Vec::new();
        let mut byte = [0u8; 1];
        for (ip, n) in client {
            let listener = TcpListener::bind((ip, 0)).expect("a listener");
            let addr = listener.local_addr().expect("its address");
            for _ in 0..n {
                let c = TcpStream::connect(addr).expect("a connection");
                let (mut s, _) = listener.accept().expect("accepted");
                drop(c);
                assert_eq!(s.read(&mut byte).expect("the client's FIN"), 0);
            }
            listeners.push(listener);
            made.push((addr, n));
        }
        // Every client is open at once, so each has its own port and no SYN
        // can reopen an earlier connection's TIME_WAIT on the server.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
        let addr = listener.local_addr().expect("its address");
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..server {
            clients.push(TcpStream::connect(addr).expect("a connection"));
            servers.push(listener.accept().expect("accepted").0);
        }
        drop(servers);
        for mut c in clients {
            assert_eq!(c.read(&mut byte).expect("the server's FIN"), 0);
        }
        listeners.push(listener);
        let expected = made.iter().map(|(_, n)| n).sum::<usize>() + server;
        wait_for_time_wait(expected);
        Filled {
            listeners,
            client: made,
            server: (addr, server),
        }
    })
}

/// Polls the namespace's TIME_WAIT count until it is `expected`: the last
/// FINs may still be in flight. Bounded, so a lost entry fails the test.
fn wait_for_time_wait(expected: usize) {
    let mut seen = 0;
    for _ in 0..6000 {
        // /proc/net is /proc/self/net: the main thread's namespace. This
        // thread's is under thread-self.
        let text = std::fs::read_to_string("/proc/thread-self/net/sockstat").expect("sockstat");
        seen = text
            .lines()
            .find_map(|l| l.strip_prefix("TCP:"))
            .and_then(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words
                    .windows(2)
                    .find(|w| w[0] == "tw")
                    .and_then(|w| w[1].parse().ok())
            })
            .unwrap_or(0);
        if seen == expected {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let ss = Command::new("ss").args(["-tan"]).output().expect("ss");
    panic!(
        "the namespace holds {seen} TIME_WAIT entries, expected {expected}; ss -tan:\n{}",
        String::from_utf8_lossy(&ss.stdout)
    );
}

/// Counts of `pairs` by a key.
pub fn count_by<K: Ord>(
    pairs: &[(SocketAddr, SocketAddr)],
    key: impl Fn(&(SocketAddr, SocketAddr)) -> K,
) -> BTreeMap<K, usize> {
    let mut counts = BTreeMap::new();
    for pair in pairs {
        *counts.entry(key(pair)).or_insert(0) += 1;
    }
    counts
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Deletes namespaces of this suite whose process has ended.
fn delete_stale() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.is_empty() || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("deleting stale network namespace {name}");
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
