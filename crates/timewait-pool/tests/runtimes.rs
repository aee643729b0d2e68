//! A pool that outlives the runtime its background tasks ran on starts them
//! again on its next checkout: retirements keep waiting for the peer, idle
//! connections are still reaped, and a waiting checkout's timeout still
//! fires. (Found by review: the tasks died with the first runtime, for good.)

mod support;

use std::time::Duration;

use support::{Connector, Server, TestConn};
use timewait_pool::{ClosePolicy, Error, FarewellMessage, Pool, PoolBuilder, WaitingFor};

type TestPool = Pool<&'static str, Connector, TestConn>;

fn runtime(paused: bool) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .unwrap()
}

/// Uses `pool` once on a runtime that then shuts down, taking the pool's
/// background tasks with it.
fn outlive_a_runtime(pool: &TestPool) {
    let first = runtime(false);
    first.block_on(async { pool.get("x").await.unwrap().release() });
    drop(first);
}

#[test]
fn a_waiting_checkouts_timeout_fires_on_a_later_runtime() {
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(1)
        .max_idle_per_key(1)
        .checkout_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let pool: TestPool = Pool::new(config, Connector::new(Server::Echo));
    outlive_a_runtime(&pool);
    runtime(true).block_on(async {
        let held = pool.get("k").await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(600), pool.get("k")).await;
        assert!(
            matches!(
                waited,
                Ok(Err(Error::Timeout {
                    waiting_for: WaitingFor::Connection,
                    ..
                }))
            ),
            "the checkout timeout never fired"
        );
        held.release();
    });
}

#[test]
fn peer_first_retirements_still_wait_for_the_peer_on_a_later_runtime() {
    let config = PoolBuilder::new()
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .build()
        .unwrap();
    let pool: TestPool = Pool::new(config, Connector::new(Server::Echo));
    outlive_a_runtime(&pool);
    runtime(true).block_on(async {
        let mut conn = pool.get("k").await.unwrap();
        conn.retire_after_use();
        conn.release();
        support::settle().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let retired = pool.stats().total.activity.retired;
        assert_eq!((retired.by_peer, retired.local), (1, 0), "{retired:?}");
    });
}

/// A pool whose retirements wait for a server that never answers the
/// farewell.
fn pool_of_a_stubborn_server() -> (TestPool, Connector) {
    let config = PoolBuilder::new()
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .grace(Duration::from_secs(30))
        .build()
        .unwrap();
    let connector = Connector::new(Server::Stubborn);
    (Pool::new(config, connector.clone()), connector)
}

/// Retires one connection of `pool` on a runtime that then shuts down,
/// after the worker took the retirement if `taken`, else with the
/// retirement still in the worker's queue.
fn retire_as_the_runtime_ends(pool: &TestPool, taken: bool) {
    let first = runtime(false);
    first.block_on(async {
        let mut conn = pool.get("k").await.unwrap();
        conn.retire_after_use();
        conn.release();
        if taken {
            support::settle().await;
        }
        assert_eq!(pool.stats().retiring, 1);
    });
    drop(first);
}

/// The retirement was counted out and recorded as a local close, by the
/// connection's drop.
fn check_counted_out(pool: &TestPool, connector: &Connector) {
    let stats = pool.stats();
    assert_eq!(stats.retiring, 0, "{stats:?}");
    let retired = stats.total.activity.retired;
    assert_eq!((retired.by_peer, retired.local), (0, 1), "{retired:?}");
    assert_eq!(stats.total.activity.reasons.requested, 1, "{stats:?}");
    // The job was dropped, not carried out: the pool neither closed nor
    // aborted the connection (the drop closed it).
    assert_eq!(connector.ended(), []);
    // And a shutdown on a later runtime has nothing left to wait for.
    let report = runtime(true).block_on(pool.shutdown(Duration::from_secs(5)));
    assert!(report.completed, "{report:?}");
}

#[test]
fn a_retirement_dropped_with_its_runtime_is_counted_out_and_recorded() {
    // The worker holds the retirement, waiting for the peer, when the
    // runtime shuts down.
    let (pool, connector) = pool_of_a_stubborn_server();
    retire_as_the_runtime_ends(&pool, true);
    check_counted_out(&pool, &connector);
}

#[test]
fn a_retirement_still_queued_when_its_runtime_ends_is_counted_out_and_recorded() {
    // The worker never ran: the retirement is still in its queue.
    let (pool, connector) = pool_of_a_stubborn_server();
    retire_as_the_runtime_ends(&pool, false);
    check_counted_out(&pool, &connector);
}
