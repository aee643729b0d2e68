//! A bounded soak: many tasks over many keys, with cancellations,
//! retirements and servers that hang up, on real loopback sockets; and a
//! hundred thousand distinct keys through one pool in memory. Descriptors,
//! memory and the number of keys remembered stay flat, and no connection
//! made for one key is ever lent for another.
//!
//! Every loop is bounded in count and in time; the figures are printed.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reliability::fault_server::{FaultServer, Hangup, Reading, Reply};
use reliability::memory::{MemConn, MemConnector, MemServer};
use reliability::process::{fds_settle, open_fds, rss_kib, tasks_settle};
use reliability::rng::Rng;
use reliability::{current_thread, multi_thread, poll_once, request, serial};
use timewait::core::budget::TwReuse;
use timewait::pool::{
    ClosePolicy, ConnectError, Error, FarewellMessage, Pool, PoolBuilder, TcpConnector,
};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower::util::MapRequest;

/// Bounds that only a failure reaches.
const WITHIN: Duration = Duration::from_secs(30);

/// A key chosen by a "remote user": one of many tenants of one of a few
/// servers. Connections go to the server; the pool keeps them per tenant.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Tenant {
    server: SocketAddr,
    id: u32,
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.server, self.id)
    }
}

type Connector = MapRequest<TcpConnector, fn(Tenant) -> SocketAddr>;
type TenantPool = Pool<Tenant, Connector, TcpStream>;

fn to_server(tenant: Tenant) -> SocketAddr {
    tenant.server
}

// ---------------------------------------------------------------------------
// Real sockets

const SERVERS: usize = 8;
const TENANTS_PER_SERVER: u32 = 64;
const TASKS: usize = 32;
const OPERATIONS: u64 = 20_000;
/// The soak stops early, all the same, once this much real time has passed.
const SOAK_FOR_AT_MOST: Duration = Duration::from_secs(25);
const SAMPLE_EVERY: u64 = 1_000;
const MAX_TOTAL: usize = 64;
const MAX_RETIRING: usize = 64;
const MAX_KEYS: usize = 128;

/// What the soak saw.
#[derive(Debug, Default)]
struct Seen {
    operations: AtomicU64,
    requests: AtomicU64,
    cancelled: AtomicU64,
    retired: AtomicU64,
    broken: AtomicU64,
    hang_ups: AtomicU64,
    /// Requests that failed because a server hung up under them.
    peer_errors: AtomicU64,
    /// Connects the kernel refused or reset under the churn.
    connect_errors: AtomicU64,
    /// Answers that named another key: a connection lent across keys.
    crossed: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    after: u64,
    fds: usize,
    rss_kib: u64,
    keys: usize,
    open: usize,
}

fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed)
}

/// One operation of one soak task.
async fn operate(
    rng: &mut Rng,
    pool: &TenantPool,
    servers: &[FaultServer],
    tenant: Tenant,
    seen: &Seen,
) {
    match rng.below(100) {
        // A server hangs up every connection it has, now and then.
        0 => {
            let how = if rng.one_in(2) {
                Hangup::Close
            } else {
                Hangup::Reset
            };
            servers[rng.index(servers.len())].hang_up(how);
            bump(&seen.hang_ups);
        }
        // Checkouts dropped after one poll (while waiting or connecting, or
        // once ready), or cut short by a timeout.
        1..=8 => {
            let mut checkout = pool.clone().oneshot(tenant);
            if poll_once(&mut checkout).await.is_none() {
                bump(&seen.cancelled);
            }
        }
        9..=15 => {
            let wait = Duration::from_micros(rng.below(300));
            if tokio::time::timeout(wait, pool.clone().oneshot(tenant))
                .await
                .is_err()
            {
                bump(&seen.cancelled);
            }
        }
        // Requests; some retire their connection, some mark it broken.
        n => {
            let mut conn = match pool.clone().oneshot(tenant).await {
                Ok(conn) => conn,
                Err(Error::Connect(e)) => {
                    // A server that resets a connection it has just accepted
                    // fails the client's connect with ECONNRESET: typed, and
                    // nothing is lent.
                    let kind = e.downcast_ref::<ConnectError>().map(ConnectError::kind);
                    assert_eq!(kind, Some(io::ErrorKind::ConnectionReset), "{e:?}");
                    bump(&seen.connect_errors);
                    return;
                }
                Err(e) => panic!("checkout failed: {e}"),
            };
            assert_eq!(*conn.key(), tenant);
            // The server answers every line with the connection's first
            // line: the key it was made for.
            let name = format!("{tenant:?}");
            match request(&mut conn, &name).await {
                Ok(answer) if answer == name => {}
                Ok(answer) => {
                    eprintln!("lent across keys: {name} got the connection of {answer}");
                    bump(&seen.crossed);
                }
                Err(e) => {
                    assert!(
                        matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof
                                | io::ErrorKind::ConnectionReset
                                | io::ErrorKind::BrokenPipe
                        ),
                        "{e}"
                    );
                    conn.mark_broken();
                    bump(&seen.peer_errors);
                }
            }
            bump(&seen.requests);
            if n < 25 {
                conn.retire_after_use();
                bump(&seen.retired);
            } else if n < 30 {
                conn.mark_broken();
                bump(&seen.broken);
            }
            conn.release();
        }
    }
}

#[test]
fn a_bounded_soak_over_many_keys_keeps_descriptors_and_memory_flat_and_never_lends_across_keys() {
    let _serial = serial();
    multi_thread().block_on(async {
        let mut servers = Vec::new();
        for _ in 0..SERVERS {
            servers.push(FaultServer::start(Reply::Sticky, Reading::Answer).await);
        }
        let servers = Arc::new(servers);
        let tenants: Arc<Vec<Tenant>> = Arc::new(
            servers
                .iter()
                .flat_map(|s| (0..TENANTS_PER_SERVER).map(move |id| Tenant { server: s.addr(), id }))
                .collect(),
        );
        let tasks_before = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let fds_before = open_fds();
        let rss_before = rss_kib();

        let config = PoolBuilder::new()
            .close_policy(ClosePolicy::PeerFirst)
            .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
            .grace(Duration::from_secs(2))
            .tw_reuse(TwReuse::LoopbackOnly)
            .max_open_per_key(2)
            .max_idle_per_key(1)
            .max_total(MAX_TOTAL)
            .max_retiring(MAX_RETIRING)
            .max_keys(MAX_KEYS)
            .build()
            .unwrap();
        let connector: Connector = TcpConnector::new().map_request(to_server as fn(Tenant) -> SocketAddr);
        let pool = TenantPool::new(config, connector);
        let seen = Arc::new(Seen::default());
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop_at = Instant::now() + SOAK_FOR_AT_MOST;
        let mut rng = Rng::from_env("soak");
        let mut workers = JoinSet::new();
        for _ in 0..TASKS {
            let (pool, servers, tenants, seen, samples, mut rng) = (
                pool.clone(),
                servers.clone(),
                tenants.clone(),
                seen.clone(),
                samples.clone(),
                rng.fork(),
            );
            workers.spawn(async move {
                while Instant::now() < stop_at {
                    let n = bump(&seen.operations);
                    if n >= OPERATIONS {
                        break;
                    }
                    if n % SAMPLE_EVERY == 0 {
                        let stats = pool.stats();
                        samples.lock().unwrap().push(Sample {
                            after: n,
                            fds: open_fds(),
                            rss_kib: rss_kib(),
                            keys: stats.keys.len(),
                            open: stats.total.open,
                        });
                    }
                    let tenant = tenants[rng.index(tenants.len())];
                    operate(&mut rng, &pool, &servers, tenant, &seen).await;
                }
            });
        }
        let started = Instant::now();
        tokio::time::timeout(SOAK_FOR_AT_MOST + WITHIN, async {
            while let Some(done) = workers.join_next().await {
                done.unwrap();
            }
        })
        .await
        .expect("the soak tasks end");
        let took = started.elapsed();
        let samples = samples.lock().unwrap().clone();
        let stats = pool.stats();
        eprintln!("soak: {seen:?} in {took:?}");
        eprintln!("soak: pool {:?}", stats.total);
        for s in &samples {
            eprintln!("soak: {s:?}");
        }

        assert_eq!(Seen::get(&seen.crossed), 0, "a connection was lent across keys");
        assert!(Seen::get(&seen.requests) > 1_000, "the soak did too little: {seen:?}");
        if Seen::get(&seen.hang_ups) == 0 {
            assert_eq!(Seen::get(&seen.connect_errors), 0, "{seen:?}");
        }
        // Bounded by the limits: each open or retiring connection is two
        // sockets here (client and server), and a hung-up server's side can
        // lag its client's by a moment.
        let fd_bound = fds_before + 2 * (MAX_TOTAL + MAX_RETIRING) + 32;
        let peak_fds = samples.iter().map(|s| s.fds).max().unwrap();
        assert!(peak_fds <= fd_bound, "descriptors grew to {peak_fds} (bound {fd_bound})");
        let peak_open = samples.iter().map(|s| s.open).max().unwrap();
        assert!(peak_open <= MAX_TOTAL, "{peak_open} connections open");
        let peak_keys = samples.iter().map(|s| s.keys).max().unwrap();
        assert!(peak_keys <= MAX_KEYS, "{peak_keys} keys remembered");
        assert!(stats.keys.len() <= MAX_KEYS);
        // Memory: once the pool is at its bounds it does not grow with the
        // work done.
        let warm = samples.iter().find(|s| s.after >= 2 * SAMPLE_EVERY).unwrap_or(&samples[0]);
        let peak_rss = samples.iter().map(|s| s.rss_kib).max().unwrap();
        let grown = peak_rss.saturating_sub(warm.rss_kib);
        eprintln!(
            "soak: RSS {rss_before} KiB before, {} KiB warm, {peak_rss} KiB peak; descriptors {fds_before} before, {peak_fds} peak",
            warm.rss_kib
        );
        assert!(grown < 16 * 1024, "memory grew by {grown} KiB after warming up");

        let total = stats.total;
        assert_eq!((total.in_use, total.waiting, total.connecting), (0, 0, 0), "{total:?}");
        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
        drop(pool);
        for server in servers.iter() {
            let counters = server.counters();
            let accepted = reliability::fault_server::Counters::get(&counters.accepted);
            counters
                .wait_for("every connection end", WITHIN, |c| c.ended() >= accepted)
                .await;
        }
        assert_eq!(tasks_settle(tasks_before, WITHIN).await, tasks_before);
        let fds_after = fds_settle(fds_before, WITHIN).await;
        eprintln!("soak: descriptors {fds_before} before, {fds_after} after");
        assert_eq!(fds_after, fds_before, "descriptors leaked");
    });
}

impl Seen {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------
// A hundred thousand keys, in memory

const DISTINCT_KEYS: u32 = 100_000;
const KEY_BOUND: usize = 16;
/// Above the key bound, so that keys holding idle connections outnumber it.
const KEY_POOL_TOTAL: usize = 64;

type KeyPool = Pool<u32, MemConnector, MemConn>;

fn key_pool() -> (KeyPool, MemConnector) {
    let connector = MemConnector::new(MemServer::Echo);
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::PeerFirst)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .max_idle_per_key(1)
        .max_total(KEY_POOL_TOTAL)
        .max_keys(KEY_BOUND)
        .build()
        .unwrap();
    (KeyPool::new(config, connector.clone()), connector)
}

/// Sends every key through the pool once, each a request on a connection
/// made for it; returns the most keys remembered at any point.
async fn pass_keys_through(pool: &KeyPool) -> usize {
    let mut most = 0;
    for id in 0..DISTINCT_KEYS {
        let mut conn = pool.clone().oneshot(id).await.unwrap();
        assert_eq!(conn.made_for, id.to_string(), "lent across keys");
        assert!(!conn.is_reused());
        if id % 100 == 0 {
            let line = format!("key {id}");
            assert_eq!(request(&mut conn, &line).await.unwrap(), line);
        }
        conn.release();
        if id % 16 == 0 {
            // Let the retirements of evicted connections run, as a server
            // between requests would.
            tokio::task::yield_now().await;
        }
        if id % 1_000 == 0 {
            most = most.max(pool.stats().keys.len());
        }
    }
    most.max(pool.stats().keys.len())
}

#[test]
fn a_hundred_thousand_keys_pass_through_without_crossing_or_growing_memory() {
    let _serial = serial();
    current_thread(false).block_on(async {
        let tasks_before = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let (pool, connector) = key_pool();
        let rss_before = rss_kib();
        let started = Instant::now();
        // Warm up to the pool's bounds, then measure.
        for id in DISTINCT_KEYS..DISTINCT_KEYS + 5_000 {
            pool.clone().oneshot(id).await.unwrap().release();
            if id % 16 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let rss_warm = rss_kib();
        let most_keys = pass_keys_through(&pool).await;
        let rss_after = rss_kib();
        let stats = pool.stats();
        eprintln!(
            "100k keys: {:?} in {:?}; at most {most_keys} keys remembered; RSS {rss_before} KiB before, {rss_warm} KiB warm, {rss_after} KiB after",
            stats.total,
            started.elapsed()
        );
        assert_eq!(stats.total.activity.connects, u64::from(DISTINCT_KEYS) + 5_000);
        assert!(
            rss_after.saturating_sub(rss_warm) < 16 * 1024,
            "memory grew from {rss_warm} KiB to {rss_after} KiB"
        );
        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
        drop(pool);
        assert_eq!(tasks_settle(tasks_before, WITHIN).await, tasks_before);
        assert_eq!(connector.log.ended(), connector.log.made(), "a connection was never closed");
    });
}

#[test]
fn the_key_bound_holds_when_a_hundred_thousand_keys_pass_through() {
    // Keys chosen by remote users must not grow the pool without limit:
    // past `max_keys`, the least recently used key is forgotten even when it
    // holds an idle connection (which is retired).
    let _serial = serial();
    current_thread(false).block_on(async {
        let (pool, _) = key_pool();
        let most_keys = pass_keys_through(&pool).await;
        assert!(
            most_keys <= KEY_BOUND,
            "{most_keys} keys remembered, bound {KEY_BOUND}"
        );
        // The keys remembered are the most recently used ones.
        let oldest_kept = DISTINCT_KEYS - u32::try_from(KEY_BOUND).unwrap();
        for (key, _) in pool.stats().keys {
            assert!(key >= oldest_kept, "key {key} outlived more recent keys");
        }
        let report = pool.shutdown(WITHIN).await;
        assert!(report.completed, "{report:?}");
    });
}
