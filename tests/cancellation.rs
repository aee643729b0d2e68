//! Cancellation and leaks: checkouts and connects dropped at any point give
//! back everything they held; waiters are served in order; a dropped pool
//! ends its tasks; shutdown keeps its deadline.
//!
//! The tests of this file count the process's descriptors and the runtime's
//! tasks, so they run one at a time ([`reliability::serial`]), each on a
//! runtime it builds after taking the lock.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reliability::memory::{MemConn, MemConnector, MemServer};
use reliability::process::{fds_settle, open_fds, tasks_settle};
use reliability::rng::Rng;
use reliability::{current_thread, multi_thread, poll_once, request, serial};
use timewait::core::budget::TwReuse;
use timewait::pool::{ClosePolicy, Fallback, FarewellMessage, Pool, PoolBuilder, TcpConnector};
use timewait_echo::{EchoHandle, EchoServer, OnQuit};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Service, ServiceExt};

type TcpPool = Pool<SocketAddr, TcpConnector, TcpStream>;
type MemPool = Pool<&'static str, MemConnector, MemConn>;

/// Bounds that only a failure reaches.
const WITHIN: Duration = Duration::from_secs(30);

fn tcp_builder() -> PoolBuilder<SocketAddr, TcpStream> {
    PoolBuilder::new()
        .close_policy(ClosePolicy::PeerFirst)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .grace(Duration::from_secs(5))
        .tw_reuse(TwReuse::LoopbackOnly)
}

async fn echo_server(on_quit: OnQuit) -> EchoHandle {
    let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    EchoServer::new(listener).on_quit(on_quit).spawn()
}

async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

// ---------------------------------------------------------------------------
// Ten thousand cancellations

const OPERATIONS: usize = 10_000;
const TASKS: usize = 40;
const KEYS: usize = 4;
const MAX_OPEN_PER_KEY: usize = 3;
const MAX_TOTAL: usize = 8;

/// How many operations of each kind ran.
#[derive(Debug, Default)]
struct Tally {
    dropped_unpolled: AtomicU64,
    dropped_after_one_poll: AtomicU64,
    timed_out: AtomicU64,
    lost_a_select: AtomicU64,
    aborted_task: AtomicU64,
    detached: AtomicU64,
    completed: AtomicU64,
    retired: AtomicU64,
}

impl Tally {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One checkout on `key`, cancelled at a point `rng` picks, or carried
/// through a request.
async fn one_operation(rng: &mut Rng, pool: &TcpPool, key: SocketAddr, tally: &Tally) {
    let mut svc = pool.clone();
    match rng.below(9) {
        0 => {
            let ready = svc.ready().await.unwrap();
            drop(ready.call(key));
            Tally::count(&tally.dropped_unpolled);
        }
        1 => {
            let ready = svc.ready().await.unwrap();
            let mut checkout = ready.call(key);
            // Ready at once (an idle connection), or dropped while waiting or
            // connecting.
            drop(poll_once(&mut checkout).await);
            Tally::count(&tally.dropped_after_one_poll);
        }
        2 => {
            let wait = Duration::from_micros(rng.below(500));
            if tokio::time::timeout(wait, svc.oneshot(key)).await.is_err() {
                Tally::count(&tally.timed_out);
            }
        }
        3 => {
            let n = rng.below(8);
            tokio::select! {
                checkout = svc.oneshot(key) => drop(checkout.unwrap()),
                () = yields(n) => Tally::count(&tally.lost_a_select),
            }
        }
        4 => {
            let task = tokio::spawn(async move {
                let conn = svc.oneshot(key).await;
                tokio::task::yield_now().await;
                drop(conn);
            });
            yields(rng.below(4)).await;
            task.abort();
            if task.await.is_err_and(|e| e.is_cancelled()) {
                Tally::count(&tally.aborted_task);
            }
        }
        5 => {
            // Taken out of the pool for good: its room goes back at once.
            let conn = svc.oneshot(key).await.unwrap();
            drop(conn.detach());
            Tally::count(&tally.detached);
        }
        n => {
            let mut conn = svc.oneshot(key).await.unwrap();
            let line = format!("op {}", rng.next_u64());
            assert_eq!(request(&mut conn, &line).await.unwrap(), line);
            if n == 8 {
                conn.retire_after_use();
                Tally::count(&tally.retired);
            }
            conn.release();
            Tally::count(&tally.completed);
        }
    }
}

#[test]
fn ten_thousand_checkouts_cancelled_at_random_points_leave_no_slot_task_or_descriptor_behind() {
    let _serial = serial();
    multi_thread().block_on(async {
        let mut servers = Vec::new();
        for _ in 0..KEYS {
            servers.push(echo_server(OnQuit::Close).await);
        }
        let keys: Arc<Vec<SocketAddr>> = Arc::new(servers.iter().map(|s| s.local_addr()).collect());
        let tasks_before = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let fds_before = open_fds();

        let config = tcp_builder()
            .max_open_per_key(MAX_OPEN_PER_KEY)
            .max_idle_per_key(2)
            .max_total(MAX_TOTAL)
            .build()
            .unwrap();
        let pool = TcpPool::new(config, TcpConnector::new());
        let tally = Arc::new(Tally::default());
        let mut rng = Rng::from_env("ten_thousand_checkouts");
        let mut workers = JoinSet::new();
        for _ in 0..TASKS {
            let (pool, keys, tally, mut rng) =
                (pool.clone(), keys.clone(), tally.clone(), rng.fork());
            workers.spawn(async move {
                for _ in 0..OPERATIONS / TASKS {
                    let key = keys[rng.index(keys.len())];
                    one_operation(&mut rng, &pool, key, &tally).await;
                }
            });
        }
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = workers.join_next().await {
                done.unwrap();
            }
        })
        .await
        .expect("the operations finish");
        eprintln!("{tally:?}");
        let stats = pool.stats();
        eprintln!("{:?}", stats.total);

        // Nothing in use, nobody waiting, nothing half-made.
        let total = stats.total;
        assert_eq!(
            (total.in_use, total.waiting, total.connecting),
            (0, 0, 0),
            "{total:?}"
        );
        assert_eq!(total.open, total.idle, "{total:?}");
        // No room under the total leaked, and the bound still holds:
        // `MAX_TOTAL` leases at once across the keys, and one more waits
        // until one of them ends, whatever its key.
        let mut held = Vec::new();
        for i in 0..MAX_TOTAL {
            let conn = tokio::time::timeout(WITHIN, pool.get(keys[i % KEYS]))
                .await
                .expect("room under the total leaked: the checkout waits")
                .unwrap();
            held.push(conn);
        }
        let mut one_more = tokio_test::task::spawn(pool.get(keys[0]));
        assert_pending!(one_more.poll());
        assert_eq!(pool.stats().total.open, MAX_TOTAL);
        drop(held.pop());
        let one_more = tokio::time::timeout(WITHIN, one_more)
            .await
            .expect("the room a lease gave back reached the waiting checkout")
            .unwrap();
        drop((held, one_more));
        // Every key's slots are free: its limit can be checked out at once.
        for &key in keys.iter() {
            let mut held = Vec::new();
            for _ in 0..MAX_OPEN_PER_KEY {
                let conn = tokio::time::timeout(WITHIN, pool.clone().oneshot(key))
                    .await
                    .expect("a slot leaked: the checkout waits")
                    .unwrap();
                held.push(conn);
            }
        }

        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
        drop(pool);
        for server in &servers {
            let stats = server.stats();
            tokio::time::timeout(WITHIN, server.ended(stats.accepted))
                .await
                .unwrap_or_else(|_| panic!("the server still holds connections: {stats:?}"));
        }
        let tasks_after = tasks_settle(tasks_before, WITHIN).await;
        assert_eq!(tasks_after, tasks_before, "tasks outlived the pool");
        let fds_after = fds_settle(fds_before, WITHIN).await;
        eprintln!("file descriptors: {fds_before} before, {fds_after} after");
        assert_eq!(fds_after, fds_before, "descriptors leaked");
    });
}

// ---------------------------------------------------------------------------
// Waiters

#[test]
fn waiters_are_served_in_the_order_they_came_and_a_dropped_waiter_takes_nothing() {
    const WAITERS: usize = 50;
    let _serial = serial();
    current_thread(false).block_on(async {
        let server = echo_server(OnQuit::Close).await;
        let key = server.local_addr();
        let config = tcp_builder()
            .max_open_per_key(1)
            .max_idle_per_key(1)
            .build()
            .unwrap();
        let pool = TcpPool::new(config, TcpConnector::new());
        let mut rng = Rng::from_env("waiters_in_order");

        let mut current = pool.clone().oneshot(key).await.unwrap();
        let only = current.local_addr().unwrap();
        let mut waiters = Vec::new();
        for i in 0..WAITERS {
            let mut waiter = tokio_test::task::spawn(pool.clone().oneshot(key));
            assert_pending!(waiter.poll());
            waiters.push((i, waiter));
        }
        // A third of them give up before their turn.
        waiters.retain(|_| !rng.one_in(3));
        let live: Vec<usize> = waiters.iter().map(|(i, _)| *i).collect();
        assert_eq!(pool.stats().total.waiting, live.len());

        let mut served = Vec::new();
        let mut queue = waiters.into_iter();
        while let Some((i, mut waiter)) = queue.next() {
            current.release();
            assert!(waiter.is_woken(), "waiter {i} was not woken");
            current = assert_ready_ok!(waiter.poll());
            assert!(current.is_reused());
            assert_eq!(current.local_addr().unwrap(), only);
            let line = format!("waiter {i}");
            assert_eq!(request(&mut current, &line).await.unwrap(), line);
            served.push(i);
            // Those behind are still waiting, and were not woken.
            for (_, behind) in queue.as_slice() {
                assert!(!behind.is_woken());
            }
        }
        assert_eq!(served, live, "served out of order");
        current.release();
        let stats = pool.stats().total;
        assert_eq!((stats.waiting, stats.in_use, stats.idle), (0, 0, 1));
        assert_eq!(stats.activity.connects, 1);
        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
    });
}

// ---------------------------------------------------------------------------
// Dropping the pool, and shutdown

#[test]
fn dropping_the_pool_ends_its_background_tasks_after_finishing_its_retirements() {
    // The server ignores the farewell, so the retirements the pool holds when
    // it is dropped each wait out the grace and fall back to a local close.
    const IDLE: usize = 3;
    let _serial = serial();
    current_thread(false).block_on(async {
        let server = echo_server(OnQuit::Ignore).await;
        let key = server.local_addr();
        let metrics = tokio::runtime::Handle::current().metrics();
        let tasks_before = metrics.num_alive_tasks();
        let fds_before = open_fds();

        let config = tcp_builder()
            .grace(Duration::from_millis(200))
            .fallback(Fallback::Local)
            .build()
            .unwrap();
        let pool = TcpPool::new(config, TcpConnector::new());
        let mut held = Vec::new();
        for i in 0..IDLE + 1 {
            let mut conn = pool.clone().oneshot(key).await.unwrap();
            let line = format!("line {i}");
            assert_eq!(request(&mut conn, &line).await.unwrap(), line);
            held.push(conn);
        }
        // One retirement in flight, the rest idle.
        held[0].retire_after_use();
        held.into_iter().for_each(|conn| conn.release());
        assert_eq!(pool.stats().total.idle, IDLE);
        assert_eq!(pool.stats().retiring, 1);
        // The server's connections, the pool's reaper and worker run.
        assert!(metrics.num_alive_tasks() >= tasks_before + IDLE + 1 + 2);

        drop(pool);
        let tasks_after = tasks_settle(tasks_before, WITHIN).await;
        assert_eq!(tasks_after, tasks_before, "tasks outlived the pool");
        tokio::time::timeout(WITHIN, server.ended(IDLE as u64 + 1))
            .await
            .unwrap();
        assert_eq!(server.stats().client_closed, IDLE as u64 + 1);
        let fds_after = fds_settle(fds_before, WITHIN).await;
        assert_eq!(fds_after, fds_before, "descriptors leaked");
    });
}

fn mem_pool(server: MemServer, grace: Duration) -> (MemPool, MemConnector) {
    let connector = MemConnector::new(server);
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::PeerFirst)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .grace(grace)
        .build()
        .unwrap();
    (MemPool::new(config, connector.clone()), connector)
}

#[test]
fn a_dropped_pools_worker_ends_when_its_last_retirement_reaches_the_grace() {
    // On the paused clock: the worker holds a retirement whose peer never
    // closes; it ends exactly when the grace runs out.
    const GRACE: Duration = Duration::from_secs(30);
    let _serial = serial();
    current_thread(true).block_on(async {
        let metrics = tokio::runtime::Handle::current().metrics();
        let tasks_before = metrics.num_alive_tasks();
        let (pool, connector) = mem_pool(MemServer::Stubborn, GRACE);
        let mut conn = pool.clone().oneshot("k").await.unwrap();
        assert_eq!(request(&mut conn, "hi").await.unwrap(), "hi");
        conn.release();
        drop(pool);

        tokio::time::sleep(GRACE - Duration::from_secs(1)).await;
        assert!(
            metrics.num_alive_tasks() > tasks_before,
            "the worker gave up before the grace"
        );
        assert_eq!(connector.log.ended(), 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(tasks_settle(tasks_before, WITHIN).await, tasks_before);
        assert_eq!(
            connector.log.closed.load(Ordering::Acquire),
            1,
            "the fallback closed it"
        );
    });
}

#[test]
fn shutdown_with_connections_in_use_returns_at_its_deadline() {
    const DEADLINE: Duration = Duration::from_secs(5);
    let _serial = serial();
    current_thread(true).block_on(async {
        let (pool, _) = mem_pool(MemServer::Echo, Duration::from_secs(5));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(pool.clone().oneshot("k").await.unwrap());
        }
        let start = tokio::time::Instant::now();
        let report = pool.shutdown(DEADLINE).await;
        assert_eq!(start.elapsed(), DEADLINE);
        assert!(!report.completed, "{report:?}");
        assert_eq!(report.still_in_use, 3, "{report:?}");
        // Given back after the shutdown, they are retired, not kept.
        held.into_iter().for_each(|conn| conn.release());
        tokio::task::yield_now().await;
        let after = pool.shutdown(DEADLINE).await;
        assert!(after.completed, "{after:?}");
        assert_eq!(pool.stats().total.open, 0);
        assert_eq!(pool.stats().total.activity.retired.by_peer, 3);
    });
}

#[test]
fn shutdown_returns_as_soon_as_the_last_connection_comes_back() {
    const DEADLINE: Duration = Duration::from_secs(60);
    const BACK_AFTER: Duration = Duration::from_secs(2);
    let _serial = serial();
    current_thread(true).block_on(async {
        let (pool, _) = mem_pool(MemServer::Echo, Duration::from_secs(5));
        let conn = pool.clone().oneshot("k").await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(BACK_AFTER).await;
            conn.release();
        });
        let start = tokio::time::Instant::now();
        let report = pool.shutdown(DEADLINE).await;
        assert!(report.completed, "{report:?}");
        assert_eq!(start.elapsed(), BACK_AFTER);
        assert_eq!(report.retired.by_peer, 1, "{report:?}");
    });
}

#[test]
fn shutdown_does_not_wait_past_its_deadline_for_a_peer_that_never_closes() {
    const DEADLINE: Duration = Duration::from_secs(5);
    let _serial = serial();
    current_thread(true).block_on(async {
        let (pool, connector) = mem_pool(MemServer::Stubborn, Duration::from_secs(60));
        let conns = [
            pool.clone().oneshot("a").await.unwrap(),
            pool.clone().oneshot("b").await.unwrap(),
        ];
        conns.into_iter().for_each(|conn| conn.release());
        let start = tokio::time::Instant::now();
        let report = pool.shutdown(DEADLINE).await;
        assert_eq!(start.elapsed(), DEADLINE);
        assert!(!report.completed, "{report:?}");
        assert_eq!(report.still_retiring, 2, "{report:?}");
        assert_eq!(connector.log.ended(), 0);
    });
}
