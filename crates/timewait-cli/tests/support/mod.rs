//! What the namespace tests share: a network namespace of their own, filled
//! with a known number of TIME_WAIT entries on each side, the binary run
//! inside it, and `ss` as the witness.
//!
//! The namespace, its guard and the skip are `timewait_echo::netns`'s, which
//! the root reliability suite shares: `ip netns add`, a thread that enters
//! the namespace with `setns(2)` (a socket belongs to the namespace of the
//! thread that makes it), and a guard that deletes the namespace when
//! dropped, also when a test fails. The binary and `ss` run inside with
//! `ip netns exec`.

// Each test file uses a part of this module.
#![allow(dead_code, unreachable_pub)] // `pub` here means "for the test files"

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

pub use timewait_echo::netns::Netns;
use timewait_echo::netns::{self, close_client_first};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_timewait");

const PREFIX: &str = "twcli-";

/// Creates a namespace, or says why it cannot: a printed skip (`None`), or
/// a failure when `TIMEWAIT_REQUIRE_NETNS=1`.
pub fn netns_or_skip(test: &str) -> Option<Netns> {
    netns::or_skip(
        test,
        netns::prepare(PREFIX).and_then(|n| Netns::add(PREFIX, n, "")),
    )
}

/// What the tests do inside a namespace.
pub trait NetnsExt {
    /// Runs the binary inside the namespace; it must succeed, and its
    /// stdout is returned.
    fn timewait(&self, args: &[&str]) -> String;
    /// `ss -Htan state time-wait` inside the namespace, as (local, peer) pairs.
    fn ss_time_wait(&self) -> Vec<(SocketAddr, SocketAddr)>;
}

impl NetnsExt for Netns {
    fn timewait(&self, args: &[&str]) -> String {
        let output = self.exec(BIN, args);
        assert!(
            output.status.success(),
            "timewait {args:?}: {}; stderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    fn ss_time_wait(&self) -> Vec<(SocketAddr, SocketAddr)> {
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
            close_client_first(std::slice::from_ref(&listener), n);
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
