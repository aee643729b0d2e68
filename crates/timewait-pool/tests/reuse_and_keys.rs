//! Reuse, LIFO order and key isolation, on in-memory connections.

mod support;

use std::time::Duration;
use support::{Connector, Server};

use timewait_pool::{ClosePolicy, FarewellMessage, HealthCheck, Pool, PoolBuilder, PoolConfig};
use tower::{Service, ServiceExt};

type TestPool = Pool<&'static str, Connector, support::TestConn>;

fn config() -> PoolConfig<&'static str, support::TestConn> {
    PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_returned_connection_is_lent_again_instead_of_connecting() {
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());

    let mut first = pool.clone().oneshot("a").await.unwrap();
    assert_eq!(first.echo("one").await.unwrap(), "one");
    let id = first.id;
    assert!(!first.is_reused());
    first.release();

    let mut second = pool.clone().oneshot("a").await.unwrap();
    assert!(second.is_reused());
    assert_eq!(second.id, id);
    assert_eq!(second.echo("two").await.unwrap(), "two");
    assert_eq!(connector.made(), 1);
    let stats = pool.stats();
    assert_eq!(stats.total.activity.connects, 1);
    assert_eq!(stats.total.activity.reuses, 1);
    assert_eq!(stats.total.in_use, 1);
}

#[tokio::test(start_paused = true)]
async fn the_most_recently_returned_connection_is_lent_first() {
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());
    let a = pool.clone().oneshot("k").await.unwrap();
    let b = pool.clone().oneshot("k").await.unwrap();
    let (a_id, b_id) = (a.id, b.id);
    a.release();
    b.release();
    let next = pool.clone().oneshot("k").await.unwrap();
    assert_eq!(next.id, b_id, "LIFO: b went back last");
    let after = pool.clone().oneshot("k").await.unwrap();
    assert_eq!(after.id, a_id);
    drop((next, after));
}

#[tokio::test(start_paused = true)]
async fn a_connection_made_for_one_key_is_never_lent_for_another() {
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());
    let keys = ["a", "b", "c"];
    for round in 0..5 {
        let mut guards = Vec::new();
        for key in keys {
            let mut svc = pool.clone();
            let guard = svc.ready().await.unwrap().call(key).await.unwrap();
            assert_eq!(guard.key, key, "round {round}: lent across keys");
            assert_eq!(*guard.key(), key);
            guards.push(guard);
        }
        guards.into_iter().for_each(|guard| guard.release());
    }
    // One connection per key, reused every round after the first.
    assert_eq!(connector.made(), keys.len());
    for key in keys {
        let stats = pool.stats();
        let key_stats = stats.key(&key).unwrap();
        assert_eq!(key_stats.activity.connects, 1);
        assert_eq!(key_stats.activity.reuses, 4);
        assert_eq!(key_stats.idle, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn idle_connections_beyond_max_idle_are_retired_and_the_peer_closes_them() {
    let connector = Connector::new(Server::Echo);
    let config = PoolBuilder::new()
        .max_idle_per_key(1)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    let a = pool.clone().oneshot("k").await.unwrap();
    let b = pool.clone().oneshot("k").await.unwrap();
    let a_id = a.id;
    a.release();
    b.release();
    // `a` was idle longest when `b` came back: it is retired, says QUIT, and
    // the server closes first.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let stats = pool.stats();
    assert_eq!(stats.total.idle, 1);
    assert_eq!(stats.total.open, 1);
    assert_eq!(stats.total.activity.retired.by_peer, 1);
    assert_eq!(stats.total.activity.retired.local, 0);
    assert_eq!(connector.ended(), vec![(a_id, support::Ended::Closed)]);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_found_closed_at_checkout_is_not_counted_as_a_reuse() {
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());
    let mut first = pool.clone().oneshot("k").await.unwrap();
    // QUIT written past the lease, which is released: the server closes
    // once it runs, after the connection is back in the idle set.
    tokio::io::AsyncWriteExt::write_all(&mut *first, b"QUIT\n")
        .await
        .unwrap();
    first.release();
    assert_eq!(pool.stats().total.idle, 1);
    support::settle().await;

    let second = pool.clone().oneshot("k").await.unwrap();
    assert!(!second.is_reused());
    let activity = pool.stats().total.activity;
    assert_eq!(activity.retired.by_peer, 1);
    assert_eq!(activity.connects, 2);
    assert_eq!(activity.reuses, 0);
    assert_eq!(pool.stats().key(&"k").unwrap().activity.reuses, 0);
}

/// A lease whose server closes once the lease is back in the idle set (QUIT
/// written past it, then released, as a careless borrower might).
async fn lend_one_the_server_then_closes(pool: &TestPool) -> usize {
    let mut conn = pool.get("k").await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut *conn, b"QUIT\n")
        .await
        .unwrap();
    let id = conn.id;
    conn.release();
    support::settle().await;
    id
}

fn checked(check: HealthCheck) -> PoolConfig<&'static str, support::TestConn> {
    PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .health_check(check)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn with_health_checks_off_a_connection_the_server_closed_is_lent_and_fails_its_borrower() {
    // The trade `HealthCheck::Never` makes: no system call per reuse, and
    // the borrower meets the closed connection itself.
    let pool = TestPool::new(checked(HealthCheck::Never), Connector::new(Server::Echo));
    let id = lend_one_the_server_then_closes(&pool).await;
    let mut conn = pool.get("k").await.unwrap();
    assert!(conn.is_reused() && conn.id == id);
    assert!(conn.echo("anyone there").await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_health_check_after_an_idle_time_skips_connections_back_a_moment_ago() {
    let pool = TestPool::new(
        checked(HealthCheck::IdleFor(Duration::from_secs(1))),
        Connector::new(Server::Echo),
    );
    // Back half a second ago: lent without a look, closed or not.
    let id = lend_one_the_server_then_closes(&pool).await;
    tokio::time::advance(Duration::from_millis(500)).await;
    let conn = pool.get("k").await.unwrap();
    assert!(conn.is_reused() && conn.id == id, "checked before its time");
    drop(conn);
    // Back a second ago: looked at, found closed, not lent.
    let id = lend_one_the_server_then_closes(&pool).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let conn = pool.get("k").await.unwrap();
    assert!(
        !conn.is_reused() && conn.id != id,
        "a closed connection was lent"
    );
    // The check found it closed; the first one's lease was dropped.
    let reasons = pool.stats().total.activity.reasons;
    assert_eq!(
        (reasons.peer_closed, reasons.unreleased),
        (1, 1),
        "{reasons:?}"
    );
}
