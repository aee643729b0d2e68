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
