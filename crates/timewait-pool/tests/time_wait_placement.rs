//! Where TIME_WAIT lands under each close policy, with the kernel as the
//! witness: a pool over real loopback sockets, a line echo server that closes
//! first on `QUIT`, and a census of the namespace's sockets once every
//! connection has ended.
//!
//! Each test runs its own listener, so the server's address tells its sockets
//! from those of the tests running beside it. Real time throughout (these are
//! real sockets); every wait is bounded, and only a failure reaches a bound.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use timewait_core::TcpState;
use timewait_core::budget::TwReuse;
use timewait_core::sys::{Census, StateSet};
use timewait_echo::{EchoHandle, EchoServer, EchoStats, OnQuit, fresh_listener, settled_time_wait};
use timewait_pool::{
    ClosePolicy, Fallback, FarewellMessage, Pool, PoolBuilder, Pooled, Retired, TcpConnector,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections per close policy.
const N: usize = 20;
/// Connections for the fallback test, each of which waits out the grace.
const STUBBORN_N: usize = 3;
/// The grace when the server does close: never reached in a passing run.
const GRACE: Duration = Duration::from_secs(5);
/// The grace when the server never closes: always reached, so kept short.
const SHORT_GRACE: Duration = Duration::from_millis(200);
const SHUTDOWN: Duration = Duration::from_secs(10);
/// Census polls: at most `POLLS` × `POLL_EVERY` of real time.
const POLLS: usize = 500;
const POLL_EVERY: Duration = Duration::from_millis(10);
/// Bounds on waits for the server and the kernel, reached only on failure.
const WITHIN: Duration = Duration::from_secs(10);

type TestPool = Pool<SocketAddr, TcpConnector, TcpStream>;
type Conn = Pooled<SocketAddr, TcpStream>;

// ---------------------------------------------------------------------------
// The test server: `timewait_echo`'s, on a port no earlier socket mentions

/// An echo server on loopback that never closes for idleness, so that every
/// close the census sees is one the test caused.
async fn echo_server(on_quit: OnQuit) -> EchoHandle {
    let listener = fresh_listener("127.0.0.1".parse().unwrap()).await.unwrap();
    EchoServer::new(listener)
        .idle_timeout(None)
        .on_quit(on_quit)
        .spawn()
}

/// The server's counters once `n` connections have ended; fails if they do
/// not end.
async fn ended(server: &EchoHandle, n: usize) -> EchoStats {
    tokio::time::timeout(WITHIN, server.ended(count(n)))
        .await
        .unwrap_or_else(|_| panic!("the server saw fewer than {n} ends: {:?}", server.stats()));
    server.stats()
}

// ---------------------------------------------------------------------------
// The pool and its use

fn builder(policy: ClosePolicy) -> PoolBuilder<SocketAddr, TcpStream> {
    PoolBuilder::new()
        .close_policy(policy)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .grace(GRACE)
        .tw_reuse(TwReuse::LoopbackOnly)
}

/// A pool that retires each connection after one use.
fn single_use_pool(policy: ClosePolicy) -> TestPool {
    Pool::new(
        builder(policy).max_uses(1).build().unwrap(),
        TcpConnector::new(),
    )
}

async fn checkout(pool: &mut TestPool, server: SocketAddr) -> Conn {
    pool.get(server).await.unwrap()
}

/// Sends a line and reads its echo back.
async fn echo(conn: &mut Conn, text: &str) {
    let line = format!("{text}\n");
    conn.write_all(line.as_bytes()).await.unwrap();
    let mut back = vec![0; line.len()];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(back, line.as_bytes());
}

/// `n` checkouts in a row, each a new connection used once and given back;
/// returns the clients' local addresses.
async fn use_each_once(pool: &mut TestPool, server: SocketAddr, n: usize) -> BTreeSet<SocketAddr> {
    let mut clients = BTreeSet::new();
    for i in 0..n {
        let mut conn = checkout(pool, server).await;
        assert!(!conn.is_reused(), "checkout {i} reused a connection");
        assert!(conn.is_final_use());
        clients.insert(conn.local_addr().unwrap());
        echo(&mut conn, &format!("line {i}")).await;
        conn.release();
    }
    assert_eq!(clients.len(), n, "every connection has its own port");
    clients
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap()
}

/// `(by_peer, by_peer_reset, local, aborted)`: no test expects a reset.
fn retired(by_peer: usize, local: usize, aborted: usize) -> (u64, u64, u64, u64) {
    (count(by_peer), 0, count(local), count(aborted))
}

fn retired_of(r: Retired) -> (u64, u64, u64, u64) {
    (r.by_peer, r.by_peer_reset, r.local, r.aborted)
}

// ---------------------------------------------------------------------------
// The kernel's view

/// The TIME_WAIT entries of one server's connections, by side.
#[derive(Debug)]
struct TimeWait {
    /// Held by the server (local address = the server's): the clients'
    /// addresses.
    server_side: BTreeSet<SocketAddr>,
    /// Held by clients (remote address = the server's): their own addresses.
    client_side: BTreeSet<SocketAddr>,
}

/// Waits until every socket of `server`'s connections is in TIME_WAIT or
/// gone (`timewait_echo`'s witness), then reads the TIME_WAIT entries by the
/// server's port: as local port (server side) and as remote port (client
/// side). From then on the sets can only shrink, after 60 s.
async fn settled_addresses(server: SocketAddr) -> TimeWait {
    let sides = settled_time_wait(server, WITHIN).await.unwrap();
    let port = server.port();
    let server_side = Census::time_wait().local_port(port).list().unwrap();
    let client_side = Census::time_wait().remote_port(port).list().unwrap();
    assert!(
        server_side.iter().all(|e| e.local == server),
        "{server_side:?}"
    );
    assert!(
        client_side.iter().all(|e| e.remote == server),
        "{client_side:?}"
    );
    let found = TimeWait {
        server_side: server_side.iter().map(|e| e.remote).collect(),
        client_side: client_side.iter().map(|e| e.local).collect(),
    };
    // A set would hide a duplicate entry; the witness's counts must match.
    assert_eq!(
        (found.server_side.len(), found.client_side.len()),
        (sides.server, sides.client)
    );
    found
}

/// Waits until the client socket `client` holds the server's FIN
/// (CLOSE_WAIT): the FIN has reached the client's kernel.
async fn wait_for_close_wait(client: SocketAddr) {
    let census = Census::new()
        .states(StateSet::only(TcpState::CloseWait))
        .local_port(client.port());
    for _ in 0..POLLS {
        if census.list().unwrap().iter().any(|e| e.local == client) {
            return;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    panic!("{client} never saw the server's FIN");
}

// ---------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn peer_first_with_a_farewell_leaves_every_time_wait_on_the_server() {
    // The pool says QUIT and waits for the server's FIN, so the server is the
    // active closer of every connection and the client of none.
    let server = echo_server(OnQuit::Close).await;
    let mut pool = single_use_pool(ClosePolicy::PeerFirst);
    let clients = use_each_once(&mut pool, server.local_addr(), N).await;
    let report = pool.shutdown(SHUTDOWN).await;
    assert!(report.completed, "{report:?}");

    assert_eq!(ended(&server, N).await.quit, count(N));
    let tw = settled_addresses(server.local_addr()).await;
    eprintln!(
        "peer-first: {} server-side, {} client-side TIME_WAIT",
        tw.server_side.len(),
        tw.client_side.len()
    );
    assert_eq!(tw.server_side, clients, "one per connection, on the server");
    assert_eq!(tw.client_side, BTreeSet::new(), "none on the client");

    let stats = pool.stats().total;
    assert_eq!(stats.activity.connects, count(N));
    assert_eq!(stats.activity.reuses, 0);
    assert_eq!(retired_of(stats.activity.retired), retired(N, 0, 0));
    assert_eq!(stats.local_time_wait, 0);
}

#[tokio::test]
async fn local_close_leaves_every_time_wait_on_the_client_and_in_the_ledger() {
    // The pool closes at once: the client is the active closer; the server,
    // reading EOF, closes after it.
    let server = echo_server(OnQuit::Close).await;
    let mut pool = single_use_pool(ClosePolicy::Local);
    let clients = use_each_once(&mut pool, server.local_addr(), N).await;
    let report = pool.shutdown(SHUTDOWN).await;
    assert!(report.completed, "{report:?}");

    assert_eq!(ended(&server, N).await.client_closed, count(N));
    let tw = settled_addresses(server.local_addr()).await;
    eprintln!(
        "local: {} server-side, {} client-side TIME_WAIT",
        tw.server_side.len(),
        tw.client_side.len()
    );
    assert_eq!(tw.client_side, clients, "one per connection, on the client");
    assert_eq!(tw.server_side, BTreeSet::new(), "none on the server");

    let stats = pool.stats();
    let total = stats.total;
    assert_eq!(total.activity.connects, count(N));
    assert_eq!(retired_of(total.activity.retired), retired(0, N, 0));
    assert_eq!(total.local_time_wait, N, "the ledger counts each one");
    assert_eq!(stats.key(&server.local_addr()).unwrap().local_time_wait, N);
}

#[tokio::test]
async fn abort_leaves_no_time_wait_on_either_side() {
    // SO_LINGER 0: the client sends a RST, which ends the connection on both
    // sides without TIME_WAIT.
    let server = echo_server(OnQuit::Close).await;
    let mut pool = single_use_pool(ClosePolicy::Abort);
    use_each_once(&mut pool, server.local_addr(), N).await;
    let report = pool.shutdown(SHUTDOWN).await;
    assert!(report.completed, "{report:?}");

    assert_eq!(ended(&server, N).await.reset, count(N));
    let tw = settled_addresses(server.local_addr()).await;
    eprintln!(
        "abort: {} server-side, {} client-side TIME_WAIT",
        tw.server_side.len(),
        tw.client_side.len()
    );
    assert_eq!(tw.server_side, BTreeSet::new());
    assert_eq!(tw.client_side, BTreeSet::new());

    let total = pool.stats().total;
    assert_eq!(total.activity.connects, count(N));
    assert_eq!(retired_of(total.activity.retired), retired(0, 0, N));
    assert_eq!(total.local_time_wait, 0);
}

#[tokio::test]
async fn peer_first_falls_back_to_a_local_close_when_the_server_ignores_the_farewell() {
    // The server never closes first, so every retirement waits out the grace
    // and then closes locally: TIME_WAIT on the client, charged to the ledger.
    let server = echo_server(OnQuit::Ignore).await;
    let config = builder(ClosePolicy::PeerFirst)
        .grace(SHORT_GRACE)
        .fallback(Fallback::Local)
        .max_uses(1)
        .build()
        .unwrap();
    let mut pool = Pool::new(config, TcpConnector::new());
    let clients = use_each_once(&mut pool, server.local_addr(), STUBBORN_N).await;
    let report = pool.shutdown(SHUTDOWN).await;
    assert!(report.completed, "{report:?}");
    // The last retirement starts after the shutdown did (one thread), and
    // falls back only when its grace has run out.
    assert!(report.elapsed >= SHORT_GRACE, "{report:?}");

    assert_eq!(
        ended(&server, STUBBORN_N).await.client_closed,
        count(STUBBORN_N)
    );
    let tw = settled_addresses(server.local_addr()).await;
    eprintln!(
        "peer-first, ignored farewell: {} server-side, {} client-side TIME_WAIT",
        tw.server_side.len(),
        tw.client_side.len()
    );
    assert_eq!(tw.client_side, clients);
    assert_eq!(tw.server_side, BTreeSet::new());

    let total = pool.stats().total;
    assert_eq!(
        retired_of(total.activity.retired),
        retired(0, STUBBORN_N, 0)
    );
    assert_eq!(total.local_time_wait, STUBBORN_N);
}

#[tokio::test]
async fn checkout_retires_an_idle_connection_the_server_closed_and_lends_a_new_one() {
    // An idle connection whose FIN is in is never lent: the checkout sees it,
    // retires it as closed by the peer (a passive close) and connects anew.
    let server = echo_server(OnQuit::Close).await;
    let mut pool = Pool::new(
        builder(ClosePolicy::PeerFirst).build().unwrap(),
        TcpConnector::new(),
    );

    let mut first = checkout(&mut pool, server.local_addr()).await;
    assert!(!first.is_reused());
    let closed = first.local_addr().unwrap();
    echo(&mut first, "one").await;
    first.release();
    // While the server keeps it open, the connection is reused.
    let mut again = checkout(&mut pool, server.local_addr()).await;
    assert!(again.is_reused());
    assert_eq!(again.local_addr().unwrap(), closed);
    echo(&mut again, "two").await;
    again.release();
    assert_eq!(pool.stats().total.idle, 1);

    server.hang_up();
    assert_eq!(ended(&server, 1).await.hung_up, 1);
    wait_for_close_wait(closed).await;

    let mut fresh = checkout(&mut pool, server.local_addr()).await;
    assert!(!fresh.is_reused());
    let opened = fresh.local_addr().unwrap();
    assert_ne!(opened, closed);
    let stats = pool.stats().total;
    assert_eq!(retired_of(stats.activity.retired), retired(1, 0, 0));
    assert_eq!(stats.activity.connects, 2);
    assert_eq!(stats.activity.reuses, 1);
    echo(&mut fresh, "three").await;
    fresh.release();

    let report = pool.shutdown(SHUTDOWN).await;
    assert!(report.completed, "{report:?}");
    assert_eq!(ended(&server, 2).await.quit, 1);
    let tw = settled_addresses(server.local_addr()).await;
    eprintln!(
        "dead idle connection: {} server-side, {} client-side TIME_WAIT",
        tw.server_side.len(),
        tw.client_side.len()
    );
    assert_eq!(tw.server_side, BTreeSet::from([closed, opened]));
    assert_eq!(tw.client_side, BTreeSet::new());
    let total = pool.stats().total;
    assert_eq!(retired_of(total.activity.retired), retired(2, 0, 0));
    assert_eq!(total.local_time_wait, 0);
}

#[tokio::test]
async fn an_unreleased_lease_gets_no_farewell_and_its_time_wait_goes_where_the_fallback_puts_it() {
    // A lease dropped mid-exchange (half a line written) could take the
    // farewell for the rest of its request, so none is said: under
    // `PeerFirst` the fallback closes it at once. `Local` (the default)
    // leaves TIME_WAIT on the client, charged to the ledger; `Abort` leaves
    // none anywhere.
    const UNRELEASED: usize = 5;
    let closed_by_client: fn(&EchoStats) -> u64 = |stats| stats.client_closed;
    let reset_by_client: fn(&EchoStats) -> u64 = |stats| stats.reset;
    for (fallback, client_side, server_saw) in [
        (Fallback::Local, UNRELEASED, closed_by_client),
        (Fallback::Abort, 0, reset_by_client),
    ] {
        let server = echo_server(OnQuit::Close).await;
        let config = builder(ClosePolicy::PeerFirst)
            .fallback(fallback)
            .build()
            .unwrap();
        let mut pool = Pool::new(config, TcpConnector::new());
        let mut clients = BTreeSet::new();
        for _ in 0..UNRELEASED {
            let mut conn = checkout(&mut pool, server.local_addr()).await;
            clients.insert(conn.local_addr().unwrap());
            conn.write_all(b"half a li").await.unwrap();
            drop(conn);
        }
        let stats = ended(&server, UNRELEASED).await;
        assert_eq!(
            server_saw(&stats),
            count(UNRELEASED),
            "{fallback:?}: {stats:?}"
        );
        assert_eq!(stats.quit, 0, "{fallback:?}: a farewell was said");
        let tw = settled_addresses(server.local_addr()).await;
        eprintln!(
            "unreleased, fallback {fallback:?}: {} server-side, {} client-side TIME_WAIT",
            tw.server_side.len(),
            tw.client_side.len()
        );
        assert_eq!(tw.client_side.len(), client_side, "{fallback:?}");
        assert!(tw.client_side.is_subset(&clients), "{fallback:?}");
        assert_eq!(tw.server_side, BTreeSet::new(), "{fallback:?}");
        let total = pool.stats().total;
        assert_eq!(total.activity.reasons.unreleased, count(UNRELEASED));
        assert_eq!(total.local_time_wait, client_side, "{fallback:?}");
    }
}

#[tokio::test]
async fn an_unreleased_lease_whose_server_already_closed_leaves_time_wait_on_the_server() {
    // One look at the socket finds the server's FIN: closing now is the
    // passive close, whatever the policy, and nothing is charged here.
    let server = echo_server(OnQuit::Close).await;
    let config = builder(ClosePolicy::PeerFirst).build().unwrap();
    let mut pool = Pool::new(config, TcpConnector::new());
    let mut conn = checkout(&mut pool, server.local_addr()).await;
    let client = conn.local_addr().unwrap();
    conn.write_all(b"QUIT\n").await.unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    drop(conn);
    assert_eq!(ended(&server, 1).await.quit, 1);
    let tw = settled_addresses(server.local_addr()).await;
    assert_eq!(tw.server_side, BTreeSet::from([client]));
    assert_eq!(tw.client_side, BTreeSet::new());
    let total = pool.stats().total;
    assert_eq!(retired_of(total.activity.retired), retired(1, 0, 0));
    assert_eq!(total.activity.reasons.unreleased, 1);
    assert_eq!(total.local_time_wait, 0);
}
