//! Port exhaustion, for real: a client namespace with 100 ephemeral ports
//! and `tcp_tw_reuse=0`, an echo server in another namespace across a veth
//! pair (see [`reliability::netns`] for why namespaces, and how).
//!
//! - A client that closes first runs out of ports after about 100
//!   connections: `connect()` fails with `EADDRNOTAVAIL`.
//! - The pool under `Local` with one request per connection stops at the
//!   same point with `PortsExhausted` and a `retry_after` near 60 s, or
//!   waits, as configured; the kernel never has to refuse.
//! - The pool under `PeerFirst` with one request per connection completes
//!   1,000 requests, each on a new connection, through the same 100 ports:
//!   TIME_WAIT stays on the server.
//!
//! These tests need root and iproute2. Without them they skip, saying why,
//! unless `TIMEWAIT_REQUIRE_NETNS=1`, which makes that a failure.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reliability::netns::{NetnsPair, Side, pair_or_skip};
use reliability::{current_thread, request};
use timewait::core::budget::{PortRange, TwReuse};
use timewait::pool::{
    ClosePolicy, Error, FarewellMessage, OnPortsExhausted, Pool, PoolBuilder, PoolStats,
    TcpConnector,
};
use timewait_echo::netns::set_sysctl;
use timewait_echo::{EchoServer, EchoStats, TimeWaitSides};
use tokio::net::TcpStream;

type TestPool = Pool<SocketAddr, TcpConnector, TcpStream>;

const LOW_PORT: u16 = 40_000;
const HIGH_PORT: u16 = 40_099;
const PORTS: u32 = 100;
const SERVER_PORT: u16 = 7878;
/// Bounds that only a failure reaches.
const WITHIN: Duration = Duration::from_secs(30);
/// Linux's TIME_WAIT length, fixed in the kernel.
const TIME_WAIT: Duration = Duration::from_secs(60);

/// The echo server, running on a thread in the server namespace.
struct ServerSide {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<(EchoStats, TimeWaitSides)>>,
}

impl ServerSide {
    fn start(pair: &NetnsPair) -> ServerSide {
        let addr = SocketAddr::new(pair.server_ip.into(), SERVER_PORT);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = pair.spawn(Side::Server, move || {
            current_thread(false).block_on(async move {
                let server = EchoServer::bind(addr).await.unwrap().spawn();
                ready_tx.send(()).unwrap();
                // Stopped, or the test is gone.
                let _ = stopped.await;
                let stats = server.shutdown().await;
                // This thread's census sees the server namespace.
                let sides = timewait_echo::settled_time_wait(addr, WITHIN)
                    .await
                    .unwrap();
                (stats, sides)
            })
        });
        ready_rx
            .recv_timeout(WITHIN)
            .expect("the echo server starts in its namespace");
        ServerSide {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the server and returns what it saw and the TIME_WAIT entries
    /// its namespace holds.
    fn stop(mut self) -> (EchoStats, TimeWaitSides) {
        drop(self.stop.take());
        let thread = self.thread.take().unwrap();
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Runs `client` on a thread in the client namespace, after narrowing the
/// namespace's port range to 100 ports and turning TIME_WAIT reuse off.
fn in_client<T, F, Fut>(pair: &NetnsPair, client: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let thread = pair.spawn(Side::Client, move || {
        assert_eq!(set_sysctl("net.ipv4.tcp_tw_reuse", "0"), "0");
        let range = set_sysctl(
            "net.ipv4.ip_local_port_range",
            &format!("{LOW_PORT} {HIGH_PORT}"),
        );
        assert_eq!(
            range.split_whitespace().collect::<Vec<_>>(),
            [LOW_PORT.to_string(), HIGH_PORT.to_string()]
        );
        // The sysctl readers see this namespace from this thread.
        assert_eq!(
            timewait::core::sys::tcp_tw_reuse().unwrap(),
            TwReuse::Disabled
        );
        current_thread(false).block_on(client())
    });
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn one_request_builder(policy: ClosePolicy) -> PoolBuilder<SocketAddr, TcpStream> {
    PoolBuilder::new()
        .close_policy(policy)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .grace(Duration::from_secs(5))
        .max_uses(1)
}

/// Builds the pool from the kernel's settings, as seen from the client
/// namespace, and checks that it sees the 100-port range.
fn pool_in_client_namespace(builder: PoolBuilder<SocketAddr, TcpStream>) -> TestPool {
    let config = builder.build().unwrap();
    let budget = config.port_budget();
    assert_eq!(budget.range(), PortRange::new(LOW_PORT, HIGH_PORT).unwrap());
    assert_eq!(budget.usable_ports(), PORTS);
    assert_eq!(budget.time_wait(), TIME_WAIT);
    Pool::new(config, TcpConnector::new())
}

async fn checkout(
    pool: &mut TestPool,
    server: SocketAddr,
) -> Result<timewait::pool::Pooled<SocketAddr, TcpStream>, Error> {
    pool.get(server).await
}

/// Checks out, makes one request and gives the connection back, until a
/// checkout fails or `max` requests are done; returns how many succeeded
/// and the error.
async fn requests_until_error(
    pool: &mut TestPool,
    server: SocketAddr,
    max: usize,
) -> (usize, Option<Error>) {
    for i in 0..max {
        let mut conn = match checkout(pool, server).await {
            Ok(conn) => conn,
            Err(error) => return (i, Some(error)),
        };
        assert!(!conn.is_reused(), "request {i} reused a connection");
        let line = format!("request {i}");
        assert_eq!(request(&mut conn, &line).await.unwrap(), line);
        conn.release();
    }
    (max, None)
}

#[test]
fn a_client_that_closes_first_fails_with_eaddrnotavail_after_about_a_hundred_connections() {
    let Some(pair) = pair_or_skip("plain client") else {
        return;
    };
    let server = ServerSide::start(&pair);
    let addr = server.addr;
    let (made, error, client_side) = in_client(&pair, move || async move {
        let mut reply = Vec::new();
        let mut outcome = (1000, None);
        for i in 0..1000 {
            if let Err(error) =
                timewait_echo::connect_and_exchange(addr, b"ping\n", &mut reply).await
            {
                outcome = (i, Some(error));
                break;
            }
        }
        let sides = timewait_echo::settled_time_wait(addr, WITHIN)
            .await
            .unwrap();
        (outcome.0, outcome.1, sides)
    });
    let (stats, server_side) = server.stop();
    eprintln!(
        "plain client: {made} connections, then {error:?}; TIME_WAIT: {} on the client, {} on the server; server {stats:?}",
        client_side.client, server_side.server
    );
    let error = error.expect("the client never ran out of ports");
    assert_eq!(error.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{error}");
    assert!((90..=100).contains(&made), "{made} connections");
    assert_eq!(
        client_side.client, made,
        "each connection left TIME_WAIT on the client"
    );
    assert_eq!(server_side.server, 0, "and none on the server");
}

#[test]
fn the_pool_under_local_close_reports_ports_exhausted_with_retry_after_near_a_minute() {
    let Some(pair) = pair_or_skip("pool, local close, fail") else {
        return;
    };
    let server = ServerSide::start(&pair);
    let addr = server.addr;
    let (made, error, stats, second) = in_client(&pair, move || async move {
        let started = Instant::now();
        let mut pool = pool_in_client_namespace(
            one_request_builder(ClosePolicy::Local).on_ports_exhausted(OnPortsExhausted::Fail),
        );
        let (made, error) = requests_until_error(&mut pool, addr, 200).await;
        let stats = pool.stats();
        eprintln!("local close: {made} requests in {:?}", started.elapsed());
        // A second pool knows nothing of the first's TIME_WAIT entries: the
        // kernel refuses its connect, and that too is PortsExhausted.
        let mut second = pool_in_client_namespace(
            one_request_builder(ClosePolicy::Local).on_ports_exhausted(OnPortsExhausted::Fail),
        );
        let second_error = checkout(&mut second, addr).await.unwrap_err();
        (made, error, stats, (second_error, second.stats()))
    });
    let (echo, server_side) = server.stop();
    eprintln!(
        "local close: {made} requests, then {error:?}; server {echo:?}, TIME_WAIT on the server {}",
        server_side.server
    );
    let error = error.expect("the pool never ran out of ports");
    assert!(error.is_ports_exhausted(), "{error:?}");
    let retry_after = error.retry_after().expect("a retry_after");
    assert!(
        retry_after > TIME_WAIT - Duration::from_secs(10) && retry_after <= TIME_WAIT,
        "retry_after {retry_after:?}"
    );
    assert!((90..=100).contains(&made), "{made} requests");
    assert_pool_stopped_before_the_kernel(&stats, made);

    let (second_error, second_stats) = second;
    assert!(second_error.is_ports_exhausted(), "{second_error:?}");
    assert_eq!(
        second_error.retry_after(),
        None,
        "the second pool's ledger is empty"
    );
    assert_eq!(second_stats.total.activity.connect_errors, 1);
}

/// Every connection was closed locally and charged to the ledger, and the
/// kernel never refused a connect.
fn assert_pool_stopped_before_the_kernel(stats: &PoolStats<SocketAddr>, made: usize) {
    let total = stats.total;
    assert_eq!(total.activity.connects, made as u64, "{total:?}");
    assert_eq!(
        total.activity.connect_errors, 0,
        "the kernel refused: {total:?}"
    );
    assert_eq!(total.activity.retired.local, made as u64, "{total:?}");
    assert_eq!(total.local_time_wait, made, "{total:?}");
}

#[test]
fn the_pool_under_local_close_waits_for_a_port_when_configured_to_wait() {
    let Some(pair) = pair_or_skip("pool, local close, wait") else {
        return;
    };
    let server = ServerSide::start(&pair);
    let addr = server.addr;
    let (made, waited, stats, log) = in_client(&pair, move || async move {
        let log = Log::default();
        let _subscriber = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(log.clone())
                .finish(),
        );
        let mut pool = pool_in_client_namespace(
            one_request_builder(ClosePolicy::Local).on_ports_exhausted(OnPortsExhausted::Wait),
        );
        let (made, error) = requests_until_error(&mut pool, addr, PORTS as usize).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(log.text(), "", "no warning before the ports are spent");
        // Every port is in TIME_WAIT: the next checkout waits for the first
        // to end, about a minute from now. It is still waiting, not failed,
        // when given up here.
        let next =
            tokio::time::timeout(Duration::from_millis(500), checkout(&mut pool, addr)).await;
        let waited = next.is_err();
        // The namespace's own total, read from this thread (which entered
        // it with setns): `/proc/net` would show the main thread's.
        let kernel_total = timewait::core::sys::time_wait_total().unwrap();
        assert_eq!(
            kernel_total,
            u64::from(PORTS),
            "sockstat of the client namespace"
        );
        (made, waited, pool.stats(), log.text())
    });
    server.stop();
    assert_eq!(made, PORTS as usize);
    assert!(waited, "the checkout past the budget did not wait");
    // The wait said why, once, before it began: a user sees a warning, not
    // a hang.
    eprintln!("the waiting checkout logged: {log}");
    assert_eq!(log.matches("WARN").count(), 1, "{log}");
    assert!(log.contains("waiting for one to free"), "{log}");
    assert!(
        log.contains(&format!("ports_in_time_wait={PORTS}")),
        "{log}"
    );
    assert!(log.contains(&addr.to_string()), "{log}");
    assert_eq!(stats.total.activity.budget_waits, 1, "{:?}", stats.total);
    assert_pool_stopped_before_the_kernel(&stats, made);
}

#[test]
fn the_pool_under_peer_first_completes_a_thousand_requests_through_a_hundred_ports() {
    const REQUESTS: usize = 1000;
    let Some(pair) = pair_or_skip("pool, peer first") else {
        return;
    };
    let server = ServerSide::start(&pair);
    let addr = server.addr;
    let (ports, stats, client_side, took) = in_client(&pair, move || async move {
        let started = Instant::now();
        let mut pool = pool_in_client_namespace(one_request_builder(ClosePolicy::PeerFirst));
        let mut ports = BTreeSet::new();
        for i in 0..REQUESTS {
            let mut conn = checkout(&mut pool, addr)
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert!(!conn.is_reused(), "request {i} reused a connection");
            ports.insert(conn.local_addr().unwrap().port());
            let line = format!("request {i}");
            assert_eq!(request(&mut conn, &line).await.unwrap(), line);
            conn.release();
        }
        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
        let took = started.elapsed();
        let sides = timewait_echo::settled_time_wait(addr, WITHIN)
            .await
            .unwrap();
        (ports, pool.stats(), sides, took)
    });
    let (echo, server_side) = server.stop();
    eprintln!(
        "peer first: {REQUESTS} requests on {} connections through {} ports in {took:?}; TIME_WAIT: {} on the client, {} on the server; server {echo:?}",
        stats.total.activity.connects,
        ports.len(),
        client_side.client,
        server_side.server
    );
    let total = stats.total;
    assert_eq!(total.activity.connects, REQUESTS as u64, "{total:?}");
    assert_eq!(total.activity.connect_errors, 0, "{total:?}");
    assert_eq!(total.activity.budget_waits, 0, "{total:?}");
    assert_eq!(total.activity.retired.by_peer, REQUESTS as u64, "{total:?}");
    assert_eq!(total.local_time_wait, 0);
    assert!(ports.len() <= PORTS as usize, "{} ports", ports.len());
    assert!(ports.iter().all(|p| (LOW_PORT..=HIGH_PORT).contains(p)));
    assert_eq!(client_side.client, 0, "no TIME_WAIT on the client");
    assert_eq!(
        echo.quit, REQUESTS as u64,
        "the server closed every connection first"
    );
    assert!(server_side.server > 0, "TIME_WAIT is on the server");
}

/// What a test's subscriber wrote, for assertions on warnings.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;

    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}
