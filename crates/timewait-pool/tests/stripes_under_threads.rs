//! The idle sets' fast steps (a lend and a park that skip the pool's lock)
//! against every other step, on a multi-threaded runtime: tasks on several
//! worker threads check out, hold, release or drop leases of a few keys
//! under a tight total cap and a key bound (so checkouts wait, keys are
//! forgotten and idle connections evicted), while the reaper expires idle
//! connections every few milliseconds.
//!
//! A park that raced a checkout deciding to wait, or a reaper round, and
//! went unseen would leave a checkout waiting beside an idle connection:
//! here that ends in a checkout timeout, or in counts that do not add up.
//! A release parks through its lease's own way back to its stripe, which
//! outlives the pool: pools are also dropped while their leases are
//! released on several threads, and every connection must be closed.
//! Bounded in count and in time.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use support::{Connector, Server, TestConn};
use timewait_pool::{ClosePolicy, Pool, PoolBuilder};

type TestPool = Pool<&'static str, Connector, TestConn>;

const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const TASKS: u64 = 24;
const CYCLES: u64 = 400;

/// A checkout that waits longer than this was stranded.
const STRANDED: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Tally {
    served: AtomicU64,
    released: AtomicU64,
    echoed: AtomicU64,
}

/// xorshift: enough to vary what each task does, seeded per task.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn churn(pool: TestPool, seed: u64, drop_one_in: u64, tally: Arc<Tally>) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..CYCLES {
        // Most checkouts go to two hot keys; the rest spread, past the key
        // bound.
        let pick = next(&mut rng);
        let key = if pick % 4 != 0 {
            KEYS[(pick % 2) as usize]
        } else {
            KEYS[(pick % KEYS.len() as u64) as usize]
        };
        let mut conn = pool.get(key).await.unwrap();
        tally.served.fetch_add(1, Ordering::Relaxed);
        assert_eq!(conn.key, key, "a connection of another key was lent");
        match next(&mut rng) % 16 {
            0 => {
                // Some I/O, checked: the connection's own answer.
                let line = format!("{key}-{seed}");
                assert_eq!(conn.echo(&line).await.unwrap(), line);
                tally.echoed.fetch_add(1, Ordering::Relaxed);
            }
            1..=4 => tokio::task::yield_now().await,
            _ => {}
        }
        if next(&mut rng) % drop_one_in == 0 {
            // Dropped unreleased: retired, its room handed on.
            drop(conn);
        } else {
            conn.release();
            tally.released.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A runtime whose tasks run on four threads.
fn four_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the tasks to their end against a pool with the given idle limit,
/// and checks the counts.
fn run(idle_timeout: Option<Duration>, drop_one_in: u64) {
    let runtime = four_workers();
    runtime.block_on(async {
        let connector = Connector::new(Server::Echo);
        let config = PoolBuilder::new()
            .close_policy(ClosePolicy::Local)
            .max_open_per_key(2)
            .max_idle_per_key(2)
            .max_total(5)
            .max_keys(4)
            .idle_timeout(idle_timeout)
            .checkout_timeout(STRANDED)
            .build()
            .unwrap();
        let pool = TestPool::new(config, connector.clone());
        let tally = Arc::new(Tally::default());
        let tasks: Vec<_> = (0..TASKS)
            .map(|seed| {
                let task = churn(pool.clone(), seed + 1, drop_one_in, tally.clone());
                tokio::spawn(task)
            })
            .collect();
        for task in tasks {
            // A panic in a task (a timeout, another key's connection) fails
            // the test here.
            task.await.unwrap();
        }

        let served = tally.served.load(Ordering::Relaxed);
        assert_eq!(served, TASKS * CYCLES);
        let stats = pool.stats();
        let total = stats.total;
        println!(
            "idle limit {idle_timeout:?}: {served} checkouts: {} connects, {} reuses, {} waits, \
             {} echoes, {} retired",
            total.activity.connects,
            total.activity.reuses,
            total.activity.waits,
            tally.echoed.load(Ordering::Relaxed),
            total.activity.retired.total(),
        );
        assert_eq!(total.activity.timeouts, 0);
        assert_eq!(total.in_use, 0, "{stats:?}");
        assert_eq!(total.connecting, 0, "{stats:?}");
        assert_eq!(total.waiting, 0, "{stats:?}");
        assert_eq!(total.open, total.idle, "{stats:?}");
        assert!(total.open <= 5);
        assert!(stats.keys.len() <= 4, "{stats:?}");
        assert_eq!(total.activity.connects + total.activity.reuses, served);
        assert_eq!(
            total.activity.released,
            tally.released.load(Ordering::Relaxed)
        );
        assert_eq!(total.activity.connects, connector.made() as u64);
        // The hot keys were reused through the fast steps, and the tight
        // limits made checkouts wait: both paths ran.
        assert!(total.activity.reuses > served / 2, "{stats:?}");
        assert!(total.activity.waits > 0, "{stats:?}");
    });
}

#[test]
fn fast_lends_and_parks_on_many_threads_strand_no_checkout_and_count_exactly() {
    // No reaper round to hand a stranded checkout anything, and few
    // retirements: a checkout stranded stays so until its timeout.
    run(None, 50);
}

#[test]
fn fast_parks_racing_reaper_rounds_strand_no_checkout_and_count_exactly() {
    run(Some(Duration::from_millis(3)), 10);
}

/// Pools dropped in this many rounds, each while its leases are released.
const DROP_ROUNDS: usize = 200;
const HOLDERS: usize = 8;
/// A pool's end closes its idle connections within this after its last
/// handle is dropped (it takes far less; this bounds a failing round).
const CLOSES_WITHIN: Duration = Duration::from_secs(10);

/// One round: `HOLDERS` tasks on several threads each hold a lease of one
/// of two keys (reused, so its release parks without the pool) and a handle
/// of the pool; then all at once each drops its handle and releases its
/// lease, in an order of its own. The pool goes away somewhere among the
/// releases.
async fn drop_while_releasing(round: usize) {
    let connector = Connector::new(Server::Echo);
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(HOLDERS)
        .max_idle_per_key(HOLDERS)
        .idle_timeout(None)
        .checkout_timeout(STRANDED)
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    // Every connection released once through the pool's books, so that
    // the next leases are lent from the idle sets.
    let mut warm = Vec::new();
    for holder in 0..HOLDERS {
        warm.push(pool.get(KEYS[holder % 2]).await.unwrap());
    }
    for conn in warm {
        conn.release();
    }
    let start = Arc::new(tokio::sync::Barrier::new(HOLDERS));
    let tasks: Vec<_> = (0..HOLDERS)
        .map(|holder| {
            let pool = pool.clone();
            let start = start.clone();
            tokio::spawn(async move {
                let conn = pool.get(KEYS[holder % 2]).await.unwrap();
                assert!(conn.is_reused());
                start.wait().await;
                if (holder + round) % 2 == 0 {
                    drop(pool);
                    conn.release();
                } else {
                    conn.release();
                    tokio::task::yield_now().await;
                    drop(pool);
                }
            })
        })
        .collect();
    drop(pool);
    for task in tasks {
        task.await.unwrap();
    }
    // Every connection made was closed once: none left parked in a stripe
    // that outlived its pool (it would be dropped unclosed, unlogged). The
    // pool's own end may come a moment after the last handle's drop, on
    // another thread (its reaper holds it during a round), so the check
    // waits for it, bounded.
    let made: Vec<usize> = (0..connector.made()).collect();
    let waited_until = Instant::now() + CLOSES_WITHIN;
    let closed = loop {
        let mut closed: Vec<usize> = connector.ended().into_iter().map(|(id, _)| id).collect();
        closed.sort_unstable();
        if closed == made || Instant::now() >= waited_until {
            break closed;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    assert_eq!(closed, made, "round {round}");
}

#[test]
fn a_pool_dropped_while_its_leases_are_released_closes_every_connection() {
    let runtime = four_workers();
    runtime.block_on(async {
        for round in 0..DROP_ROUNDS {
            drop_while_releasing(round).await;
        }
    });
}
