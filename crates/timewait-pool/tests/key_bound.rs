//! `max_keys`: past it, the least recently used key that is not busy is
//! forgotten and its idle connections retired; busy keys are kept. In-memory
//! connections, paused time.

mod support;

use support::{Connector, Ended, Server, TestConn};
use timewait_pool::{ClosePolicy, Pool, PoolBuilder};
use tower::ServiceExt;

type TestPool = Pool<&'static str, Connector, TestConn>;

fn pool(max_keys: usize, connector: &Connector) -> TestPool {
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_idle_per_key(1)
        .max_keys(max_keys)
        .build()
        .unwrap();
    TestPool::new(config, connector.clone())
}

/// `n` distinct keys, `k0` to `k{n-1}`.
fn keys(n: usize) -> Vec<&'static str> {
    (0..n)
        .map(|i| &*Box::leak(format!("k{i}").into_boxed_str()))
        .collect()
}

fn remembered(pool: &TestPool) -> Vec<&'static str> {
    let mut keys: Vec<_> = pool.stats().keys.into_iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_keys_leave_only_the_most_recent_ones_and_their_connections() {
    const KEYS: usize = 10_000;
    const BOUND: usize = 100;
    let connector = Connector::new(Server::Echo);
    let pool = pool(BOUND, &connector);
    let keys = keys(KEYS);
    for (i, key) in keys.iter().enumerate() {
        let conn = pool.clone().oneshot(*key).await.unwrap();
        assert_eq!(conn.key, *key, "lent across keys");
        assert!(!conn.is_reused());
        conn.release();
        if i % 500 == 0 {
            assert!(pool.stats().keys.len() <= BOUND);
        }
    }
    let mut newest = keys[KEYS - BOUND..].to_vec();
    newest.sort_unstable();
    assert_eq!(remembered(&pool), newest);
    let stats = pool.stats().total;
    assert_eq!((stats.open, stats.idle), (BOUND, BOUND), "{stats:?}");
    // Every connection of a forgotten key was closed under the policy.
    let retired = stats.activity.retired;
    assert_eq!(retired.local as usize, KEYS - BOUND, "{retired:?}");
    let ended = connector.ended();
    assert_eq!(ended.len(), KEYS - BOUND);
    assert!(ended.iter().all(|(_, how)| *how == Ended::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_key_used_again_outlives_keys_used_once_after_it() {
    let connector = Connector::new(Server::Echo);
    let pool = pool(2, &connector);
    pool.clone().oneshot("a").await.unwrap().release();
    pool.clone().oneshot("b").await.unwrap().release();
    let again = pool.clone().oneshot("a").await.unwrap();
    assert!(again.is_reused());
    again.release();
    pool.clone().oneshot("c").await.unwrap().release();
    assert_eq!(
        remembered(&pool),
        ["a", "c"],
        "b was the least recently used"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_with_no_connection_is_forgotten_before_one_holding_an_idle_connection() {
    let connector = Connector::new(Server::Echo);
    let pool = pool(2, &connector);
    let a = pool.clone().oneshot("a").await.unwrap();
    let a_id = a.id;
    a.release();
    // `b` is used after `a`, but its only connection is retired: it is empty.
    let mut b = pool.clone().oneshot("b").await.unwrap();
    let b_id = b.id;
    b.retire_after_use();
    b.release();
    assert_eq!(pool.stats().key(&"b").unwrap().open, 0);
    pool.clone().oneshot("c").await.unwrap().release();
    assert_eq!(remembered(&pool), ["a", "c"], "b held nothing");
    assert_eq!(connector.ended(), [(b_id, Ended::Closed)]);
    let again = pool.clone().oneshot("a").await.unwrap();
    assert!(again.is_reused() && again.id == a_id);
}

#[tokio::test(start_paused = true)]
async fn a_busy_key_is_never_forgotten_and_its_connection_comes_back_to_it() {
    let connector = Connector::new(Server::Echo);
    let pool = pool(10, &connector);
    let held = pool.clone().oneshot("busy").await.unwrap();
    let held_id = held.id;
    for key in keys(1_000) {
        pool.clone().oneshot(key).await.unwrap().release();
    }
    assert!(remembered(&pool).contains(&"busy"));
    assert!(pool.stats().keys.len() <= 10);
    held.release();
    let again = pool.clone().oneshot("busy").await.unwrap();
    assert!(again.is_reused() && again.id == held_id);
}

#[tokio::test(start_paused = true)]
async fn when_every_key_is_busy_a_new_key_is_taken_and_the_bound_comes_back() {
    let connector = Connector::new(Server::Echo);
    let pool = pool(2, &connector);
    let a = pool.clone().oneshot("a").await.unwrap();
    let b = pool.clone().oneshot("b").await.unwrap();
    let c = pool.clone().oneshot("c").await.unwrap();
    assert_eq!(
        remembered(&pool),
        ["a", "b", "c"],
        "over the bound while all are busy"
    );
    [a, b, c].into_iter().for_each(|conn| conn.release());
    pool.clone().oneshot("d").await.unwrap().release();
    assert!(pool.stats().keys.len() <= 2, "{:?}", remembered(&pool));
    assert!(remembered(&pool).contains(&"d"));
}

#[tokio::test(start_paused = true)]
async fn checkouts_waiting_for_room_hold_no_key_so_max_keys_still_bounds_the_map() {
    // A checkout waiting under the total cap is queued in the pool, not in a
    // key of its own: fifty of them for fifty new keys add none. (Found by
    // review: each waiting checkout used to make its key busy.)
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_keys(2)
        .max_total(1)
        .build()
        .unwrap();
    let pool = Pool::new(config, Connector::new(Server::Echo));
    let held = pool.get("a").await.unwrap();
    let mut waiting = Vec::new();
    for i in 0..50 {
        let key: &'static str = Box::leak(format!("k{i}").into_boxed_str());
        let mut checkout = tokio_test::task::spawn(pool.get(key));
        tokio_test::assert_pending!(checkout.poll());
        waiting.push(checkout);
    }
    let stats = pool.stats();
    assert_eq!(remembered(&pool), ["a"], "{stats:?}");
    assert_eq!(stats.total.waiting, 50);
    // The first of them gets the room when `a` gives it back.
    held.release();
    let first = waiting.remove(0);
    let conn = first.await.unwrap();
    assert_eq!(conn.key, "k0");
    assert!(pool.stats().keys.len() <= 2);
}
