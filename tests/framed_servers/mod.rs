//! What the framed-lease tests against real servers share: the pool, the
//! workload (concurrent request/response through framed leases, with
//! `max_uses` so that connections are retired during the run), and the
//! kernel's count of TIME_WAIT per side as the witness.
#![allow(dead_code)] // each test file uses its own part
#![allow(unreachable_pub)] // `pub` here means "for the test files"

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use timewait::pool::framed::FramedError;
use timewait::pool::{Activity, ClosePolicy, Error, Farewell, Pool, Pooled, TcpConnector};
use timewait_echo::{TimeWaitSides, settled_time_wait};
use timewait_servers::codec::CodecError;
use tokio::net::TcpStream;

pub type TcpPool = Pool<SocketAddr, TcpConnector, TcpStream>;
pub type Lease = Pooled<SocketAddr, TcpStream>;

/// Concurrent borrowers, and so the most connections open.
pub const TASKS: usize = 4;
/// Requests each borrower makes, unless `FRAMED_REQUESTS_PER_TASK` says
/// otherwise (for figures from a longer run).
pub const REQUESTS_PER_TASK: u64 = 150;
/// Uses after which a connection is retired: 600 requests retire at least
/// 600 / 40 - 4 = 11 connections during the run.
pub const MAX_USES: u64 = 40;

/// Requests each borrower makes.
pub fn requests_per_task() -> u64 {
    std::env::var("FRAMED_REQUESTS_PER_TASK")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n >= MAX_USES * TASKS as u64)
        .unwrap_or(REQUESTS_PER_TASK)
}
/// A bound only a failure reaches.
pub const WITHIN: Duration = Duration::from_secs(30);

/// A pool of `TASKS` connections per key, retiring each after `MAX_USES`,
/// under `policy`, saying `farewell` under `PeerFirst`.
pub fn pool(farewell: impl Farewell<SocketAddr, TcpStream>, policy: ClosePolicy) -> TcpPool {
    Pool::builder(TcpConnector::new())
        .max_open_per_key(TASKS)
        .max_idle_per_key(TASKS)
        .max_uses(MAX_USES)
        .close_policy(policy)
        .farewell(farewell)
        .grace(WITHIN)
        .build()
        .unwrap()
}

/// Starts a real server with `start`, or fails the test saying it needs
/// `what`.
pub async fn needs<S, E: std::fmt::Display>(
    what: &str,
    start: impl Future<Output = Result<S, E>>,
) -> S {
    start
        .await
        .unwrap_or_else(|e| panic!("the test needs {what}: {e}"))
}

/// What a workload did, and where its TIME_WAIT landed.
#[derive(Debug)]
pub struct Outcome {
    pub requests: u64,
    pub elapsed: Duration,
    /// The pool's counts once it was shut down.
    pub activity: Activity,
    /// Connections retired during the run (used up), before the shutdown.
    pub retired_during_run: u64,
    pub sides: TimeWaitSides,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// One line for the closing note.
    pub fn print(&self, server: &str, policy: ClosePolicy) {
        eprintln!(
            "{server} {policy}: {} requests in {:.2} s ({:.0}/s), {} connects, {} reuses, {} retired during the run, TIME_WAIT client {} server {}",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.activity.connects,
            self.activity.reuses,
            self.retired_during_run,
            self.sides.client,
            self.sides.server
        );
    }
}

/// Runs `TASKS` borrowers of `REQUESTS_PER_TASK` requests each through
/// `exchange` (which gets a lease and the request's number, and must end
/// the lease), then shuts the pool down and counts TIME_WAIT toward
/// `server`.
pub async fn run<F, Fut>(pool: &TcpPool, server: SocketAddr, exchange: F) -> Outcome
where
    F: Fn(Lease, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let lent = LentOnce::default();
    let per_task = requests_per_task();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS as u64 {
        let (pool, exchange, lent) = (pool.clone(), exchange.clone(), lent.clone());
        tasks.spawn(async move {
            for i in 0..per_task {
                let lease = pool.get(server).await.unwrap();
                lent.lend(&lease);
                exchange(lease, task * per_task + i).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    let retired_during_run = pool.stats().total.activity.reasons.used_up;
    assert_shutdown_completes(pool).await;
    Outcome {
        requests: TASKS as u64 * per_task,
        elapsed,
        activity: pool.stats().total.activity,
        retired_during_run,
        sides: sides(server).await,
    }
}

/// Runs the workload on a new `pool(farewell, policy)` against `server`
/// (named `name` in the printed line), and prints its outcome.
pub async fn run_printed<F, Fut>(
    name: &str,
    farewell: impl Farewell<SocketAddr, TcpStream>,
    policy: ClosePolicy,
    server: SocketAddr,
    exchange: F,
) -> Outcome
where
    F: Fn(Lease, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let pool = pool(farewell, policy);
    let outcome = run(&pool, server, exchange).await;
    outcome.print(name, policy);
    outcome
}

/// One lease of `pool` toward `server` per id in `ids`, each noted in
/// `lent` and handed to `exchange` (which must end it).
pub async fn exchange_each<F, Fut>(
    pool: &TcpPool,
    server: SocketAddr,
    lent: &LentOnce,
    ids: Range<u64>,
    exchange: F,
) where
    F: Fn(Lease, u64) -> Fut,
    Fut: Future<Output = ()>,
{
    for id in ids {
        let lease = pool.get(server).await.unwrap();
        lent.lend(&lease);
        exchange(lease, id).await;
    }
}

/// Like [`exchange_each`], after the server was killed at `killed_at` and
/// restarted: every lease must be on a connection made since.
pub async fn exchange_each_on_new_connections<F, Fut>(
    pool: &TcpPool,
    server: SocketAddr,
    lent: &LentOnce,
    ids: Range<u64>,
    killed_at: Instant,
    exchange: F,
) where
    F: Fn(Lease, u64) -> Fut,
    Fut: Future<Output = ()>,
{
    exchange_each(pool, server, lent, ids, |lease: Lease, id| {
        assert!(
            lease.created() > killed_at,
            "a connection from before the kill was lent again"
        );
        exchange(lease, id)
    })
    .await;
}

/// Checks that a checkout toward the dead `server` fails with the
/// connector's typed error.
pub async fn assert_checkout_refused(pool: &TcpPool, server: SocketAddr) {
    let refused = pool.get(server).await.unwrap_err();
    assert!(matches!(refused, Error::Connect(_)), "{refused:?}");
}

/// Shuts `pool` down and checks that it completed within `WITHIN`.
pub async fn assert_shutdown_completes(pool: &TcpPool) {
    let report = pool.shutdown(WITHIN).await;
    assert!(report.completed, "{report:?}");
}

/// Checks a typed error of a request cut by the server's death: the peer's
/// FIN with a response owed, or the reset the codec reports.
pub fn assert_cut_by_the_server(error: &FramedError<CodecError>) {
    assert!(
        matches!(
            error,
            FramedError::Closed { .. } | FramedError::Codec(CodecError::Io(_))
        ),
        "{error:?}"
    );
}

/// The TIME_WAIT entries of the connections to `server`, once every one of
/// them has finished closing.
pub async fn sides(server: SocketAddr) -> TimeWaitSides {
    settled_time_wait(server, WITHIN).await.unwrap()
}

/// Checks the witness of `PeerFirst`: every connection was retired with the
/// server closing first (some during the run), none left TIME_WAIT here.
pub fn assert_server_closed_every_connection(outcome: &Outcome) {
    let connects = outcome.activity.connects as usize;
    assert_one_side_closed_every_connection(
        outcome,
        outcome.activity.retired.by_peer,
        TimeWaitSides {
            client: 0,
            server: connects,
        },
    );
}

/// Checks the witness of `Local`: every connection left TIME_WAIT here.
pub fn assert_client_closed_every_connection(outcome: &Outcome) {
    let connects = outcome.activity.connects as usize;
    assert_one_side_closed_every_connection(
        outcome,
        outcome.activity.retired.local,
        TimeWaitSides {
            client: connects,
            server: 0,
        },
    );
}

/// Checks that connections were retired during the run, that `closed` (the
/// count of those one side closed first) is every connection, and that
/// TIME_WAIT landed as `sides` says.
fn assert_one_side_closed_every_connection(outcome: &Outcome, closed: u64, sides: TimeWaitSides) {
    assert!(outcome.retired_during_run > 0, "{outcome:?}");
    assert_eq!(closed, outcome.activity.connects, "{outcome:?}");
    assert_eq!(outcome.sides, sides, "{outcome:?}");
}

/// Every lending of every connection, in order: a connection is lent
/// again only after its previous lease ended (its use count goes up by one
/// from one lending to the next), so no two borrowers ever share it.
#[derive(Debug, Clone, Default)]
pub struct LentOnce(Arc<Mutex<HashMap<(SocketAddr, Instant), u64>>>);

impl LentOnce {
    /// Notes that `lease` was lent.
    pub fn lend(&self, lease: &Lease) {
        let connection = (lease.local_addr().unwrap(), lease.created());
        let mut lent = self.0.lock().unwrap();
        let before = lent.insert(connection, lease.uses()).unwrap_or(0);
        assert_eq!(
            lease.uses(),
            before + 1,
            "connection {connection:?} lent out of turn"
        );
    }

    /// Whether a connection from `local` was ever lent.
    pub fn ever_lent_from(&self, local: SocketAddr) -> bool {
        self.0
            .lock()
            .unwrap()
            .keys()
            .any(|(addr, _)| *addr == local)
    }

    /// The local addresses of every connection lent so far.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.0
            .lock()
            .unwrap()
            .keys()
            .map(|(addr, _)| *addr)
            .collect()
    }
}
