//! A guard dropped in the middle of an exchange is never lent again; one
//! dropped between exchanges is. In-memory connections, paused time.

mod support;

use std::time::Duration;

use support::{Connector, Ended, Server};
use timewait_pool::{ClosePolicy, Pool, PoolConfig, Pooled};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

type TestPool = Pool<&'static str, Connector, support::TestConn>;
type Guard = Pooled<&'static str, support::TestConn>;

fn config() -> PoolConfig<&'static str, support::TestConn> {
    TestPool::builder()
        .close_policy(ClosePolicy::Local)
        .build()
        .unwrap()
}

/// Sends `line` through the guard and reads its echo through the guard.
async fn exchange(conn: &mut Guard, line: &str) -> String {
    conn.write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    let mut reply = vec![0u8; line.len() + 1];
    conn.read_exact(&mut reply).await.unwrap();
    String::from_utf8(reply).unwrap().trim_end().to_owned()
}

/// Checks `key` out, and says whether the pool lent the connection `id`
/// again.
async fn lends_again(pool: &TestPool, id: usize) -> bool {
    let next = pool.clone().oneshot("k").await.unwrap();
    next.is_reused() && next.id == id
}

#[tokio::test(start_paused = true)]
async fn a_connection_dropped_between_exchanges_is_lent_again() {
    let pool = TestPool::new(config(), Connector::new(Server::Echo));
    let mut conn = pool.clone().oneshot("k").await.unwrap();
    assert_eq!(exchange(&mut conn, "one").await, "one");
    let id = conn.id;
    drop(conn);
    assert!(lends_again(&pool, id).await);
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_answer_was_not_read_is_not_lent_again() {
    // The answer would reach the next borrower.
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());
    let mut conn = pool.clone().oneshot("k").await.unwrap();
    conn.write_all(b"one\n").await.unwrap();
    let id = conn.id;
    drop(conn);
    assert!(!lends_again(&pool, id).await);
    assert_eq!(connector.ended(), vec![(id, Ended::Closed)]);
    assert_eq!(pool.stats().total.activity.retired.local, 1);
}

#[tokio::test(start_paused = true)]
async fn a_read_cancelled_while_waiting_is_not_lent_again() {
    // The server never answers: the read waits until the timeout drops it.
    let pool = TestPool::new(config(), Connector::new(Server::Stubborn));
    let mut conn = pool.clone().oneshot("k").await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), conn.read(&mut byte)).await;
    assert!(read.is_err(), "the silent server answered");
    let id = conn.id;
    drop(conn);
    assert!(!lends_again(&pool, id).await);
}

#[tokio::test(start_paused = true)]
async fn a_write_only_exchange_marked_at_rest_is_lent_again() {
    let pool = TestPool::new(config(), Connector::new(Server::Stubborn));
    let mut conn = pool.clone().oneshot("k").await.unwrap();
    // No end of line: the server reads it and answers nothing.
    conn.write_all(b"a log record").await.unwrap();
    conn.mark_at_rest();
    let id = conn.id;
    drop(conn);
    assert!(lends_again(&pool, id).await);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_through_the_guard_marks_it_broken_and_at_rest_cannot_undo_it() {
    let pool = TestPool::new(config(), Connector::new(Server::Echo));
    let mut conn = pool.clone().oneshot("k").await.unwrap();
    conn.shutdown().await.unwrap();
    conn.mark_at_rest();
    assert!(conn.is_broken());
    let id = conn.id;
    drop(conn);
    assert!(!lends_again(&pool, id).await);
}
