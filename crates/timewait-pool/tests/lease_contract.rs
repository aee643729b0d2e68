//! The lease contract: a connection goes back to the pool only when its
//! borrower releases it; a lease dropped without a release is retired, never
//! lent again; the I/O seen through the lease can overrule a release, never
//! stand in for one. In-memory connections, paused time.

mod support;

use std::time::Duration;

use support::{Connector, Ended, Server};
use timewait_pool::{
    ClosePolicy, Fallback, FarewellMessage, Pool, PoolBuilder, PoolConfig, Pooled,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestPool = Pool<&'static str, Connector, support::TestConn>;
type Guard = Pooled<&'static str, support::TestConn>;

fn config() -> PoolConfig<&'static str, support::TestConn> {
    PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .build()
        .unwrap()
}

/// Sends `line` through the lease and reads its echo through the lease.
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
    let next = pool.get("k").await.unwrap();
    let lent_again = next.is_reused() && next.id == id;
    next.release();
    lent_again
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_is_lent_again() {
    let pool = TestPool::new(config(), Connector::new(Server::Echo));
    let mut conn = pool.get("k").await.unwrap();
    assert_eq!(exchange(&mut conn, "one").await, "one");
    let id = conn.id;
    conn.release();
    assert!(lends_again(&pool, id).await);
    // This lease and the one `lends_again` took.
    assert_eq!(pool.stats().total.activity.released, 2);
}

#[tokio::test(start_paused = true)]
async fn a_lease_dropped_without_a_release_is_never_lent_again_even_between_exchanges() {
    // The pool cannot know the exchange was complete; only a release says so.
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());
    let mut conn = pool.get("k").await.unwrap();
    assert_eq!(exchange(&mut conn, "one").await, "one");
    let id = conn.id;
    drop(conn);
    assert!(!lends_again(&pool, id).await);
    assert_eq!(connector.ended(), vec![(id, Ended::Closed)]);
    let activity = pool.stats().total.activity;
    assert_eq!(activity.reasons.unreleased, 1, "{activity:?}");
    assert_eq!(activity.retired.local, 1, "{activity:?}");
    // Only the lease `lends_again` took.
    assert_eq!(activity.released, 1, "{activity:?}");
}

#[tokio::test(start_paused = true)]
async fn a_release_after_a_read_cancelled_while_pending_is_overruled() {
    // The server never answers: the read waits until the timeout drops it,
    // so an answer may still arrive after the release.
    let pool = TestPool::new(config(), Connector::new(Server::Stubborn));
    let mut conn = pool.get("k").await.unwrap();
    conn.write_all(b"no end of line").await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), conn.read(&mut byte)).await;
    assert!(read.is_err(), "the silent server answered");
    let id = conn.id;
    conn.release();
    assert!(!lends_again(&pool, id).await);
    let reasons = pool.stats().total.activity.reasons;
    assert_eq!(reasons.interrupted, 1, "{reasons:?}");
}

#[tokio::test(start_paused = true)]
async fn a_write_only_exchange_released_is_lent_again() {
    let pool = TestPool::new(config(), Connector::new(Server::Stubborn));
    let mut conn = pool.get("k").await.unwrap();
    // No end of line: the server reads it and answers nothing.
    conn.write_all(b"a log record").await.unwrap();
    let id = conn.id;
    conn.release();
    assert!(lends_again(&pool, id).await);
}

#[tokio::test(start_paused = true)]
async fn io_through_deref_counts_for_nothing_but_the_release_does() {
    // A lease's I/O done on `&mut *conn` is invisible to it: the release is
    // what makes the connection lendable, and nothing else.
    let pool = TestPool::new(config(), Connector::new(Server::Echo));
    let mut conn = pool.get("k").await.unwrap();
    assert_eq!(
        (*conn).echo("through deref").await.unwrap(),
        "through deref"
    );
    let id = conn.id;
    conn.release();
    assert!(lends_again(&pool, id).await);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_through_the_lease_marks_it_broken_and_a_release_cannot_undo_it() {
    let pool = TestPool::new(config(), Connector::new(Server::Echo));
    let mut conn = pool.get("k").await.unwrap();
    conn.shutdown().await.unwrap();
    assert!(conn.is_broken());
    let id = conn.id;
    conn.release();
    assert!(!lends_again(&pool, id).await);
    assert_eq!(pool.stats().total.activity.reasons.broken, 1);
}

#[tokio::test(start_paused = true)]
async fn a_detached_connection_leaves_the_pool_and_gives_its_room_back() {
    let connector = Connector::new(Server::Echo);
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(1)
        .max_idle_per_key(1)
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    let conn = pool.get("k").await.unwrap();
    let mut waiting = tokio_test::task::spawn(pool.get("k"));
    tokio_test::assert_pending!(waiting.poll());
    let mut io = conn.detach();
    assert_eq!(io.echo("still mine").await.unwrap(), "still mine");
    assert!(waiting.is_woken(), "the room went to the waiting checkout");
    let next = tokio_test::assert_ready_ok!(waiting.poll());
    assert!(!next.is_reused());
    let stats = pool.stats().total;
    assert_eq!(stats.activity.detached, 1, "{stats:?}");
    assert_eq!(stats.open, 1, "the detached connection is not counted");
    // The pool never closes it: it is the caller's.
    next.release();
    pool.shutdown(Duration::from_secs(1)).await;
    assert!(!connector.ended().iter().any(|(id, _)| *id == io.id));
}

#[tokio::test(start_paused = true)]
async fn an_unreleased_lease_under_peer_first_gets_no_farewell_and_closes_with_the_fallback() {
    // The farewell could be taken for the rest of a half-written request,
    // so none is said: the fallback closes it (a local close here) at once.
    for (fallback, ended, counted) in [
        (Fallback::Local, Ended::Closed, (1, 0)),
        (Fallback::Abort, Ended::Aborted, (0, 1)),
    ] {
        let connector = Connector::new(Server::Echo);
        let config = PoolBuilder::new()
            .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
            .fallback(fallback)
            .build()
            .unwrap();
        let pool = TestPool::new(config, connector.clone());
        let mut conn = pool.get("k").await.unwrap();
        conn.write_all(b"half a requ").await.unwrap();
        let id = conn.id;
        drop(conn);
        assert_eq!(connector.ended(), vec![(id, ended)], "{fallback:?}");
        let retired = pool.stats().total.activity.retired;
        assert_eq!((retired.local, retired.aborted), counted, "{fallback:?}");
        assert_eq!(retired.by_peer, 0, "{fallback:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retirements_are_counted_by_reason() {
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_uses(2)
        .build()
        .unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    // Released at its last use.
    pool.get("k").await.unwrap().release();
    pool.get("k").await.unwrap().release();
    // Asked to retire.
    let mut conn = pool.get("k").await.unwrap();
    conn.retire_after_use();
    conn.release();
    // Marked broken.
    let mut conn = pool.get("k").await.unwrap();
    conn.mark_broken();
    conn.release();
    // Dropped.
    drop(pool.get("k").await.unwrap());
    // Idle past its limit.
    pool.get("k").await.unwrap().release();
    tokio::time::sleep(Duration::from_secs(91)).await;
    support::settle().await;
    let reasons = pool.stats().total.activity.reasons;
    assert_eq!(
        (
            reasons.used_up,
            reasons.requested,
            reasons.broken,
            reasons.unreleased,
            reasons.expired
        ),
        (1, 1, 1, 1, 1),
        "{reasons:?}"
    );
    assert_eq!(reasons.total(), 5);
    assert_eq!(pool.stats().total.activity.released, 5);
}

#[tokio::test(start_paused = true)]
async fn a_lease_released_after_its_pool_is_gone_closes_its_connection() {
    // A release parks through the lease's own way back to its key's stripe,
    // which outlives the pool while the lease holds it: the pool's end must
    // close that way, or the connection would rest where nothing lends or
    // retires it, and drop unclosed with the lease.
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(config(), connector.clone());
    // A first release goes through the books, which list the key's set;
    // the lease after it is lent from the set, and would park fast.
    pool.get("k").await.unwrap().release();
    let conn = pool.get("k").await.unwrap();
    assert!(conn.is_reused());
    let id = conn.id;
    drop(pool);
    support::settle().await;
    conn.release();
    support::settle().await;
    assert_eq!(connector.ended(), [(id, Ended::Closed)]);
}
