//! Faults of the peer, on real loopback sockets, with a server that
//! misbehaves on command: it resets or closes idle connections, never
//! answers, never closes after the farewell, goes away mid-request and comes
//! back, or stops reading.
//!
//! Real time throughout (these are real sockets). Waits for the kernel are
//! polls of its socket table, bounded; the only durations that pass in full
//! are the short grace periods and request timeouts under test.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use reliability::fault_server::{Counters, FaultServer, Hangup, Reading, Reply};
use reliability::request;
use timewait::core::TcpState;
use timewait::core::budget::TwReuse;
use timewait::core::sys::{Census, StateSet};
use timewait::pool::{
    ClosePolicy, ConnectError, Error, Fallback, FarewellMessage, Pool, PoolBuilder, Pooled,
    TcpConnector,
};
use timewait_echo::{EchoServer, OnQuit};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

type TestPool = Pool<SocketAddr, TcpConnector, TcpStream>;
type Conn = Pooled<SocketAddr, TcpStream>;

/// A grace that is never reached when the peer behaves.
const GRACE: Duration = Duration::from_secs(5);
/// A grace that is always reached (the peer never closes), so kept short.
const SHORT_GRACE: Duration = Duration::from_millis(200);
/// How long a client waits for an answer that never comes.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);
/// Bounds that only a failure reaches.
const WITHIN: Duration = Duration::from_secs(20);
const POLL_EVERY: Duration = Duration::from_millis(10);

fn builder() -> PoolBuilder<SocketAddr, TcpStream> {
    PoolBuilder::new()
        .close_policy(ClosePolicy::PeerFirst)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .grace(GRACE)
        .tw_reuse(TwReuse::LoopbackOnly)
}

fn pool(builder: PoolBuilder<SocketAddr, TcpStream>) -> TestPool {
    Pool::new(builder.build().unwrap(), TcpConnector::new())
}

async fn checkout(pool: &mut TestPool, server: SocketAddr) -> Result<Conn, Error> {
    pool.get(server).await
}

/// `(by_peer, by_peer_reset, local, aborted)` of the pool's retirements.
fn retired(pool: &TestPool) -> (u64, u64, u64, u64) {
    let r = pool.stats().total.activity.retired;
    (r.by_peer, r.by_peer_reset, r.local, r.aborted)
}

/// Polls the socket table until `done` holds for the client socket of the
/// connection from `client` to `server` (`None` once it left the table).
async fn wait_for_client_socket(
    client: SocketAddr,
    server: SocketAddr,
    what: &str,
    done: impl Fn(Option<TcpState>) -> bool,
) {
    let census = Census::new().local_port(client.port());
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let state = census
            .list()
            .unwrap()
            .iter()
            .find(|e| e.local == client && e.remote == server)
            .and_then(|e| e.tcp_state());
        if done(state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{client}: {what} never happened; state {state:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Polls until no client socket toward `server` is still ESTABLISHED: the
/// server's FIN or RST reached every one of them.
async fn wait_until_no_client_established(server: SocketAddr) {
    let census = Census::new()
        .states(StateSet::only(TcpState::Established))
        .remote_port(server.port());
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let open = census.list().unwrap();
        if open.iter().all(|e| e.remote != server) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "client sockets still established toward {server}: {open:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[tokio::test]
async fn an_idle_connection_the_peer_reset_is_not_lent_and_counts_as_reset_by_the_peer() {
    let server = FaultServer::start(Reply::Tagged, Reading::Answer).await;
    let mut pool = pool(builder());

    let mut conn = checkout(&mut pool, server.addr()).await.unwrap();
    let reset = conn.local_addr().unwrap();
    assert_eq!(request(&mut conn, "one").await.unwrap(), "g1 one");
    conn.release();
    assert_eq!(pool.stats().total.idle, 1);

    server.hang_up(Hangup::Reset);
    server
        .counters()
        .wait_for("the reset", WITHIN, |c| Counters::get(&c.hung_up) == 1)
        .await;
    // A reset socket leaves the kernel's table at once.
    wait_for_client_socket(reset, server.addr(), "the reset", |state| state.is_none()).await;

    let mut fresh = checkout(&mut pool, server.addr()).await.unwrap();
    assert!(!fresh.is_reused(), "the reset connection was lent");
    assert_ne!(fresh.local_addr().unwrap(), reset);
    assert_eq!(request(&mut fresh, "two").await.unwrap(), "g1 two");
    assert_eq!(retired(&pool), (0, 1, 0, 0), "counted as reset by the peer");
    assert_eq!(pool.stats().total.activity.connects, 2);
    fresh.release();

    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
    assert_eq!(retired(&pool), (1, 1, 0, 0));
}

#[tokio::test]
async fn an_idle_connection_the_peer_closed_is_not_lent_and_leaves_no_client_time_wait() {
    let server = FaultServer::start(Reply::Tagged, Reading::Answer).await;
    let mut pool = pool(builder());

    let mut conn = checkout(&mut pool, server.addr()).await.unwrap();
    let closed = conn.local_addr().unwrap();
    assert_eq!(request(&mut conn, "one").await.unwrap(), "g1 one");
    conn.release();

    server.hang_up(Hangup::Close);
    wait_for_client_socket(closed, server.addr(), "the server's FIN", |state| {
        state == Some(TcpState::CloseWait)
    })
    .await;

    let mut fresh = checkout(&mut pool, server.addr()).await.unwrap();
    assert!(!fresh.is_reused(), "the closed connection was lent");
    assert_ne!(fresh.local_addr().unwrap(), closed);
    assert_eq!(request(&mut fresh, "two").await.unwrap(), "g1 two");
    assert_eq!(
        retired(&pool),
        (1, 0, 0, 0),
        "counted as closed by the peer"
    );
    fresh.release();

    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
    assert_eq!(retired(&pool), (2, 0, 0, 0));
    let sides = timewait_echo::settled_time_wait(server.addr(), WITHIN)
        .await
        .unwrap();
    eprintln!("peer closed an idle connection: TIME_WAIT {sides:?}");
    assert_eq!(sides.client, 0, "no TIME_WAIT on the client");
    assert_eq!(sides.server, 2, "the server closed both connections first");
}

#[tokio::test]
async fn a_request_to_a_peer_that_never_answers_times_out_and_its_connection_is_not_lent_again() {
    // The peer accepts, reads, and never answers or closes, not even after
    // the farewell.
    let server = FaultServer::start(Reply::Echo, Reading::Silent).await;
    let mut pool = pool(builder().grace(SHORT_GRACE).fallback(Fallback::Local));

    let mut conn = checkout(&mut pool, server.addr()).await.unwrap();
    let silent = conn.local_addr().unwrap();
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, request(&mut conn, "hello")).await;
    assert!(answer.is_err(), "the silent server answered: {answer:?}");
    // A cancelled request leaves the protocol in an unknown state: the
    // guard's documented remedy.
    conn.mark_broken();
    drop(conn);
    // A broken connection is closed with the fallback at once.
    assert_eq!(retired(&pool), (0, 0, 1, 0));

    let mut next = checkout(&mut pool, server.addr()).await.unwrap();
    assert!(!next.is_reused(), "the connection that timed out was lent");
    assert_ne!(next.local_addr().unwrap(), silent);
    // Retired after use: the farewell goes out, the FIN never comes, the
    // grace ends and the fallback closes it. Nothing waits longer.
    next.retire_after_use();
    next.release();
    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
    assert_eq!(report.retired.local, 1, "{report:?}");
    assert_eq!(retired(&pool), (0, 0, 2, 0));
    assert_eq!(pool.stats().total.open, 0);
    server
        .counters()
        .wait_for("both client closes", WITHIN, |c| {
            Counters::get(&c.client_closed) == 2
        })
        .await;
}

#[tokio::test]
async fn a_peer_that_never_closes_after_the_farewell_is_aborted_after_the_grace() {
    // The echo server ignores QUIT; the fallback is an abort, so neither side
    // keeps TIME_WAIT.
    const N: u64 = 3;
    let server = EchoServer::new(
        timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
            .await
            .unwrap(),
    )
    .on_quit(OnQuit::Ignore)
    .spawn();
    let mut pool = pool(
        builder()
            .grace(SHORT_GRACE)
            .fallback(Fallback::Abort)
            .max_uses(1),
    );
    for i in 0..N {
        let mut conn = checkout(&mut pool, server.local_addr()).await.unwrap();
        assert!(!conn.is_reused());
        let line = format!("line {i}");
        assert_eq!(request(&mut conn, &line).await.unwrap(), line);
        conn.release();
    }
    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
    assert_eq!(retired(&pool), (0, 0, 0, N));
    tokio::time::timeout(WITHIN, server.ended(N)).await.unwrap();
    assert_eq!(server.stats().reset, N, "{:?}", server.stats());
    let sides = timewait_echo::settled_time_wait(server.local_addr(), WITHIN)
        .await
        .unwrap();
    assert_eq!((sides.client, sides.server), (0, 0), "{sides:?}");
}

/// The peer goes away while requests are in flight, then comes back on the
/// same address.
async fn the_peer_goes_away_mid_request_and_comes_back(how: Hangup) {
    const IN_FLIGHT: usize = 4;
    const IDLE: usize = 2;
    let mut server = FaultServer::start(Reply::Tagged, Reading::Answer).await;
    let addr = server.addr();
    let mut pool = pool(builder().max_open_per_key(16).max_idle_per_key(16));

    // Connections of the first generation, all idle.
    let mut first = Vec::new();
    for i in 0..IN_FLIGHT + IDLE {
        let mut conn = checkout(&mut pool, addr).await.unwrap();
        assert_eq!(
            request(&mut conn, &format!("r{i}")).await.unwrap(),
            format!("g1 r{i}")
        );
        first.push(conn);
    }
    let old: Vec<SocketAddr> = first.iter().map(|c| c.local_addr().unwrap()).collect();
    first.into_iter().for_each(Conn::release);
    assert_eq!(pool.stats().total.idle, IN_FLIGHT + IDLE);

    // Requests the server reads and holds unanswered.
    let mut calls = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut conn = checkout(&mut pool, addr).await.unwrap();
        calls.push(tokio::spawn(async move {
            let answer = request(&mut conn, "HOLD").await;
            (answer, conn)
        }));
    }
    server
        .counters()
        .wait_for("the held requests", WITHIN, |c| {
            Counters::get(&c.holds) == IN_FLIGHT as u64
        })
        .await;

    server.stop(how).await;
    let expected = match how {
        Hangup::Close => io::ErrorKind::UnexpectedEof,
        Hangup::Reset => io::ErrorKind::ConnectionReset,
    };
    for call in calls {
        let (answer, conn) = tokio::time::timeout(WITHIN, call).await.unwrap().unwrap();
        let error = answer.expect_err("an answer from a server that went away");
        assert_eq!(error.kind(), expected, "{error}");
        drop(conn);
    }
    wait_until_no_client_established(addr).await;
    let (by_peer, by_peer_reset, local, aborted) = retired(&pool);
    assert_eq!(by_peer + by_peer_reset + local + aborted, IN_FLIGHT as u64);

    // While it is away: the idle connections of the old server are not lent,
    // and connecting fails with a typed error that names the refusal.
    for _ in 0..3 {
        let error = checkout(&mut pool, addr).await.unwrap_err();
        let Error::Connect(source) = &error else {
            panic!("expected a connect error, got {error:?}");
        };
        let connect = source
            .downcast_ref::<ConnectError>()
            .unwrap_or_else(|| panic!("not a ConnectError: {source:?}"));
        assert_eq!(
            connect.kind(),
            io::ErrorKind::ConnectionRefused,
            "{connect}"
        );
        assert_eq!(connect.addr(), Some(addr));
    }
    let stats = pool.stats().total;
    assert_eq!(
        (stats.open, stats.idle, stats.in_use),
        (0, 0, 0),
        "{stats:?}"
    );
    // The idle ones were found dead at checkout and retired as the peer
    // ended them.
    let (by_peer, by_peer_reset, _, _) = retired(&pool);
    match how {
        Hangup::Close => assert!(by_peer >= IDLE as u64, "{:?}", retired(&pool)),
        Hangup::Reset => assert!(by_peer_reset >= IDLE as u64, "{:?}", retired(&pool)),
    }

    // Back: every call is served, and only by the new server.
    server.restart().await;
    for i in 0..10 {
        let mut conn = checkout(&mut pool, addr).await.unwrap();
        assert!(!old.contains(&conn.local_addr().unwrap()));
        let answer = request(&mut conn, &format!("again {i}")).await.unwrap();
        assert_eq!(answer, format!("g2 again {i}"));
        conn.release();
    }
    let stats = pool.stats().total;
    assert_eq!(stats.activity.connects as usize, IN_FLIGHT + IDLE + 1);
    assert_eq!(stats.activity.connect_errors, 3);
    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
}

#[tokio::test]
async fn in_flight_calls_fail_with_eof_when_the_peer_closes_and_the_pool_recovers_when_it_returns()
{
    the_peer_goes_away_mid_request_and_comes_back(Hangup::Close).await;
}

#[tokio::test]
async fn in_flight_calls_fail_with_a_reset_when_the_peer_crashes_and_the_pool_recovers_when_it_returns()
 {
    the_peer_goes_away_mid_request_and_comes_back(Hangup::Reset).await;
}

/// Writes `conn` full: until the kernel takes no more bytes (both sides'
/// buffers are full and the peer advertises a zero window). Returns how many
/// bytes it took.
fn fill(conn: &mut Conn) -> usize {
    let chunk = vec![b'x'; 64 * 1024];
    let mut cx = Context::from_waker(Waker::noop());
    let mut filled = 0usize;
    for _ in 0..100_000 {
        match Pin::new(&mut *conn).poll_write(&mut cx, &chunk) {
            Poll::Ready(Ok(n)) => filled += n,
            Poll::Ready(Err(e)) => panic!("write failed before the buffers filled: {e}"),
            Poll::Pending => return filled,
        }
    }
    panic!("the kernel took {filled} bytes and still wanted more");
}

#[tokio::test]
async fn a_peer_that_stops_reading_blocks_no_other_key_and_no_other_connection() {
    let stalled = FaultServer::start(Reply::Echo, Reading::Stalled).await;
    let healthy = FaultServer::start(Reply::Tagged, Reading::Answer).await;
    let mut pool = pool(builder().grace(SHORT_GRACE));

    // Without a user timeout nothing ends this write: the kernel probes the
    // zero window for as long as the peer answers the probes.
    let mut stuck = checkout(&mut pool, stalled.addr()).await.unwrap();
    let filled = fill(&mut stuck);
    eprintln!("the buffers took {filled} bytes before the write blocked");
    let (give_up, given_up) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        tokio::select! {
            written = stuck.write_all(&chunk) => panic!("a write to a peer that never reads ended: {written:?}"),
            _ = given_up => stuck.mark_broken(),
        }
        stuck
    });

    // Meanwhile other keys are served, and so is the stalled key itself, on
    // a connection of its own.
    for i in 0..20 {
        let mut conn = checkout(&mut pool, healthy.addr()).await.unwrap();
        let answer = request(&mut conn, &format!("ping {i}")).await.unwrap();
        assert_eq!(answer, format!("g1 ping {i}"));
        conn.release();
    }
    let other = checkout(&mut pool, stalled.addr()).await.unwrap();
    assert!(!other.is_reused());
    other.release();
    assert!(!writer.is_finished());
    assert_eq!(pool.stats().key(&stalled.addr()).unwrap().in_use, 1);

    give_up.send(()).unwrap();
    let stuck = tokio::time::timeout(WITHIN, writer).await.unwrap().unwrap();
    assert!(stuck.is_broken());
    drop(stuck);
    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
}

#[tokio::test]
async fn writes_to_a_peer_that_stops_reading_time_out_as_the_connector_is_configured() {
    // TCP_USER_TIMEOUT is the connector's write timeout: data (or, with a
    // zero window, the probes for it) unacknowledged that long ends the
    // connection with ETIMEDOUT (Linux 5.11+ for the zero-window case).
    const USER_TIMEOUT: Duration = Duration::from_millis(500);
    let stalled = FaultServer::start(Reply::Echo, Reading::Stalled).await;
    let config = builder().grace(SHORT_GRACE).build().unwrap();
    let mut pool = Pool::new(config, TcpConnector::new().user_timeout(Some(USER_TIMEOUT)));

    let mut stuck = checkout(&mut pool, stalled.addr()).await.unwrap();
    fill(&mut stuck);
    let chunk = vec![b'x'; 64 * 1024];
    let result = tokio::time::timeout(WITHIN, stuck.write_all(&chunk))
        .await
        .expect("the user timeout never ended the write");
    let error = result.expect_err("a write to a peer that never reads succeeded");
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
    assert!(
        stuck.is_broken(),
        "a failed write marks the connection broken"
    );
    drop(stuck);
    let key = *pool.stats().key(&stalled.addr()).unwrap();
    assert_eq!((key.open, key.in_use), (0, 0), "{key:?}");

    // The key is served again, on a new connection.
    let again = checkout(&mut pool, stalled.addr()).await.unwrap();
    assert!(!again.is_reused());
    again.release();
    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
}

#[tokio::test]
async fn a_request_cancelled_by_a_timeout_is_not_lent_again_even_without_mark_broken() {
    // A request cut short by a timeout or a `select!` drops the lease
    // unreleased, with the request sent and its answer unread: the next
    // borrower would read the old answer, so it is retired. The caller of a
    // cancelled future cannot call `mark_broken`, and need not.
    let server = FaultServer::start(Reply::Echo, Reading::Silent).await;
    let mut pool = pool(builder().grace(SHORT_GRACE));
    let mut conn = checkout(&mut pool, server.addr()).await.unwrap();
    let cancelled = conn.local_addr().unwrap();
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, request(&mut conn, "hello")).await;
    assert!(answer.is_err());
    drop(conn);
    let next = checkout(&mut pool, server.addr()).await.unwrap();
    assert!(
        !next.is_reused() && next.local_addr().unwrap() != cancelled,
        "the connection of a cancelled request was lent again"
    );
}

#[tokio::test]
async fn a_connection_whose_read_failed_with_a_reset_counts_as_reset_by_the_peer() {
    // The peer's RST ends the connection on both sides without TIME_WAIT;
    // charging it to the ledger as a local close takes a port from the
    // budget for 2×MSL that the kernel never took.
    let mut server = FaultServer::start(Reply::Tagged, Reading::Answer).await;
    let mut pool = pool(builder());
    let mut conn = checkout(&mut pool, server.addr()).await.unwrap();
    let call = tokio::spawn(async move {
        let answer = request(&mut conn, "HOLD").await;
        (answer, conn)
    });
    server
        .counters()
        .wait_for("the held request", WITHIN, |c| Counters::get(&c.holds) == 1)
        .await;
    server.stop(Hangup::Reset).await;
    let (answer, conn) = call.await.unwrap();
    assert_eq!(answer.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    drop(conn);
    assert_eq!(retired(&pool), (0, 1, 0, 0), "counted as reset by the peer");
    assert_eq!(
        pool.stats().total.local_time_wait,
        0,
        "no TIME_WAIT was charged"
    );
}
