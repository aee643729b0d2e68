//! The census finds TIME_WAIT on the side that closed first, on real loopback
//! sockets, through both sources, and agrees with `ss`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use timewait_core::sys::{Census, SocketEntry, Source};
use timewait_core::{KernelState, TcpState};

const CONNECTIONS: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Closer {
    Client,
    Server,
}

/// One connection as `(local, remote)` seen from each side.
type FourTuple = (SocketAddr, SocketAddr);

/// Opens `CONNECTIONS` connections to `listener` and closes each with
/// `closer` first; the other side reads the FIN (EOF) before it closes, so no
/// close is simultaneous. Returns each connection's tuple from the closer's
/// side. (`tcp_tw_reuse=2` could let a later connect take over a client's
/// TIME_WAIT on loopback, but only a second after its last timestamp; these
/// connections are made within milliseconds.)
fn connect_and_close(listener: &TcpListener, closer: Closer) -> BTreeSet<FourTuple> {
    let server_addr = listener.local_addr().unwrap();
    let mut tuples = BTreeSet::new();
    for _ in 0..CONNECTIONS {
        let client = TcpStream::connect(server_addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (active, mut passive) = match closer {
            Closer::Client => (client, server),
            Closer::Server => (server, client),
        };
        tuples.insert((active.local_addr().unwrap(), active.peer_addr().unwrap()));
        active.shutdown(Shutdown::Both).unwrap();
        drop(active);
        let mut rest = Vec::new();
        assert_eq!(passive.read_to_end(&mut rest).unwrap(), 0, "expected EOF");
        drop(passive);
    }
    tuples
}

fn time_wait(source: Source) -> Census {
    Census::time_wait().source(source)
}

fn tuples_of(entries: &[SocketEntry]) -> BTreeSet<FourTuple> {
    entries.iter().map(|e| (e.local, e.remote)).collect()
}

/// Runs `census` until it holds every tuple of `expected` (the kernel handles
/// the last ACK asynchronously), for at most about two seconds.
fn poll_until_complete(census: &Census, expected: &BTreeSet<FourTuple>) -> Vec<SocketEntry> {
    for _ in 0..400 {
        let entries = census.list().unwrap();
        if tuples_of(&entries).is_superset(expected) {
            return entries;
        }
        thread::sleep(Duration::from_millis(5));
    }
    census.list().unwrap()
}

/// The number of TIME_WAIT sockets `ss` lists for `filter`.
fn ss_count(filter: &str) -> usize {
    let output = Command::new("ss")
        .args(["-Htan", "state", "time-wait", filter])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `ss` ({e}): install iproute2 (apt-get install iproute2)")
        });
    assert!(output.status.success(), "ss failed: {output:?}");
    String::from_utf8(output.stdout).unwrap().lines().count()
}

/// Checks, through both sources, that the TIME_WAIT entries of our
/// connections are exactly `expected`, found by `on_closer`, and that none is
/// found by `on_passive`; then compares the counts with `ss`.
fn check(expected: &BTreeSet<FourTuple>, on_closer: Census, on_passive: Census, ss_filter: &str) {
    let ours = |entries: &[SocketEntry]| -> BTreeSet<FourTuple> {
        let reversed = |(a, b): &FourTuple| (*b, *a);
        tuples_of(entries)
            .into_iter()
            .filter(|t| expected.contains(t) || expected.contains(&reversed(t)))
            .collect()
    };
    for source in [Source::SockDiag, Source::ProcNet] {
        let found = poll_until_complete(&on_closer.clone().source(source), expected);
        assert_eq!(&ours(&found), expected, "closer side, {source:?}");
        for entry in &found {
            assert_eq!(entry.state, KernelState::Tcp(TcpState::TimeWait));
            let left = entry.time_wait_remaining().expect("a TIME_WAIT timer");
            assert!(
                left > Duration::ZERO && left <= Duration::from_secs(60),
                "{left:?}"
            );
        }
        let passive = on_passive.clone().source(source).list().unwrap();
        assert!(
            ours(&passive).is_empty(),
            "passive side, {source:?}: {passive:?}"
        );
    }
    let census = on_closer.source(Source::Auto);
    let report = census.run().unwrap();
    assert_ne!(report.source(), Source::Auto);
    assert_eq!(
        census.count().unwrap(),
        ss_count(ss_filter),
        "census vs ss {ss_filter}"
    );
}

#[test]
fn client_that_closes_first_holds_the_time_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let expected = connect_and_close(&listener, Closer::Client);
    assert_eq!(expected.len(), CONNECTIONS);
    check(
        &expected,
        time_wait(Source::Auto).remote_port(port),
        time_wait(Source::Auto).local_port(port),
        &format!("( dport = :{port} )"),
    );
}

#[test]
fn server_that_closes_first_holds_the_time_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let expected = connect_and_close(&listener, Closer::Server);
    assert_eq!(expected.len(), CONNECTIONS);
    check(
        &expected,
        time_wait(Source::Auto).local_port(port),
        time_wait(Source::Auto).remote_port(port),
        &format!("( sport = :{port} )"),
    );
}

#[test]
fn sources_agree_on_the_established_connections_of_a_listener() {
    // Open connections are stable, so both sources must list the same ones.
    let listener = TcpListener::bind("[::1]:0")
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        streams.push(listener.accept().unwrap().0);
    }
    let established = Census::new()
        .states(TcpState::Established.into())
        .port(port);
    let by_source = |source| {
        let mut entries = established.clone().source(source).list().unwrap();
        entries.sort_by_key(|e| (e.local, e.remote));
        entries
            .iter()
            .map(|e| (e.local, e.remote, e.inode))
            .collect::<Vec<_>>()
    };
    let diag = by_source(Source::SockDiag);
    assert_eq!(diag.len(), 6, "{diag:?}");
    assert_eq!(diag, by_source(Source::ProcNet));
    assert!(diag.iter().all(|(_, _, inode)| *inode != 0));
    let listening = Census::new()
        .states(TcpState::Listen.into())
        .local_port(port);
    assert_eq!(listening.count().unwrap(), 1);
}
