//! Per-key limits, the total cap, FIFO waiters, the checkout timeout and
//! cancellation.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use support::{Connector, Server, TestConn};
use timewait_pool::{ClosePolicy, Error, Pool, PoolBuilder, WaitingFor};
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::{Service, ServiceExt};

type TestPool<S = Connector> = Pool<&'static str, S, TestConn>;

fn pool_with(max_open: usize, max_total: usize) -> (TestPool, Connector) {
    let connector = Connector::new(Server::Echo);
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(max_open)
        .max_idle_per_key(max_open)
        .max_total(max_total)
        .build()
        .unwrap();
    (TestPool::new(config, connector.clone()), connector)
}

#[tokio::test(start_paused = true)]
async fn a_checkout_past_the_key_limit_waits_for_a_returned_connection() {
    let (pool, connector) = pool_with(1, 16);
    let held = pool.clone().oneshot("k").await.unwrap();
    let held_id = held.id;

    let mut waiting = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(waiting.poll());
    assert_eq!(pool.stats().total.waiting, 1);

    held.release();
    assert!(waiting.is_woken(), "the check-in must wake the waiter");
    let handed = assert_ready_ok!(waiting.poll());
    assert_eq!(handed.id, held_id);
    assert!(handed.is_reused());
    assert_eq!(connector.made(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let (pool, _) = pool_with(1, 16);
    let held = pool.clone().oneshot("k").await.unwrap();
    let mut first = task::spawn(pool.clone().oneshot("k"));
    let mut second = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    held.release();
    assert!(!second.is_woken());
    let got = assert_ready_ok!(first.poll());
    assert_pending!(second.poll());
    got.release();
    assert_ready_ok!(second.poll());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_does_not_take_the_connection_from_the_next() {
    let (pool, _) = pool_with(1, 16);
    let held = pool.clone().oneshot("k").await.unwrap();
    let mut first = task::spawn(pool.clone().oneshot("k"));
    let mut second = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    drop(first);
    held.release();
    assert!(second.is_woken());
    let got = assert_ready_ok!(second.poll());
    assert_eq!(pool.stats().total.open, 1);
    assert_eq!(pool.stats().total.activity.reuses, 1, "handed to `second`");
    got.release();
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_the_handoff_gives_the_connection_back() {
    let (pool, connector) = pool_with(1, 16);
    let held = pool.clone().oneshot("k").await.unwrap();
    let mut first = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(first.poll());
    held.release(); // handed to `first`, which never looks at it
    drop(first);
    let stats = pool.stats();
    assert_eq!(stats.total.open, 1);
    assert_eq!(
        stats.total.idle, 1,
        "the connection went back to the idle set"
    );
    assert_eq!(stats.total.activity.reuses, 0, "handed over, never lent");
    let again = pool.clone().oneshot("k").await.unwrap();
    assert!(again.is_reused());
    assert_eq!(connector.made(), 1);
    assert_eq!(pool.stats().total.activity.reuses, 1);
}

#[tokio::test(start_paused = true)]
async fn at_the_total_cap_a_checkout_waits_for_room_and_a_lease_that_ends_makes_it() {
    let (pool, _) = pool_with(8, 2);
    let a = pool.get("a").await.unwrap();
    let b = pool.get("b").await.unwrap();
    // Nothing idle to evict: `c` waits, holding nothing.
    let mut c = task::spawn(pool.get("c"));
    assert_pending!(c.poll());
    assert_eq!(pool.stats().total.waiting, 1);
    // Released, `a` is wanted by nobody of its key: it is retired to make
    // room for `c`.
    a.release();
    assert!(c.is_woken(), "the room went to the waiting checkout");
    let c = assert_ready_ok!(c.poll());
    assert_eq!(c.key, "c");
    let stats = pool.stats();
    assert_eq!(stats.total.open, 2, "{stats:?}");
    assert_eq!(stats.key(&"a").unwrap().open, 0);
    assert_eq!(stats.total.activity.reasons.evicted, 1);
    drop((b, c));
}

#[tokio::test(start_paused = true)]
async fn poll_ready_reserves_nothing_so_a_clone_is_ready_and_get_takes_a_shared_reference() {
    let (mut pool, _) = pool_with(8, 1);
    let held = pool.get("k").await.unwrap();
    let mut clone = pool.clone();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    // Readiness says only that the pool is open; waits happen per key.
    assert!(clone.poll_ready(&mut cx).is_ready());
    assert!(pool.poll_ready(&mut cx).is_ready());
    held.release();
    let again = clone.call("k").await.unwrap();
    assert!(again.is_reused());
    again.release();
    pool.shutdown(Duration::from_secs(1)).await;
    assert!(matches!(
        pool.poll_ready(&mut cx),
        Poll::Ready(Err(Error::Closed))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_new_key_at_the_total_cap_retires_an_idle_connection_of_another_key() {
    let (pool, connector) = pool_with(8, 1);
    pool.get("a").await.unwrap().release();
    assert_eq!(pool.stats().total.idle, 1);
    let b = pool.clone().oneshot("b").await.unwrap();
    assert_eq!(b.key, "b");
    let stats = pool.stats();
    assert_eq!(stats.key(&"a").unwrap().open, 0);
    assert_eq!(stats.total.open, 1);
    assert_eq!(connector.made(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_total_cap_takes_the_idle_connection_of_the_least_recently_used_key() {
    let (pool, connector) = pool_with(8, 2);
    pool.get("a").await.unwrap().release();
    pool.get("b").await.unwrap().release();
    // `a` is used again: `b` is now the least recently used.
    pool.get("a").await.unwrap().release();
    let c = pool.clone().oneshot("c").await.unwrap();
    let stats = pool.stats();
    assert_eq!(stats.key(&"a").unwrap().idle, 1);
    assert_eq!(stats.key(&"b").unwrap().open, 0);
    assert_eq!(stats.total.open, 2);
    assert_eq!(connector.made(), 3);
    drop(c);
}

/// A connector whose connects never finish.
#[derive(Clone, Debug)]
struct Hanging;

impl tower::Service<&'static str> for Hanging {
    type Response = TestConn;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TestConn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: &'static str) -> Self::Future {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connect_gives_its_slot_to_the_next_checkout() {
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(1)
        .max_idle_per_key(1)
        .build()
        .unwrap();
    let pool = TestPool::new(config, Hanging);
    let mut connecting = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(connecting.poll());
    let mut waiting = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(waiting.poll());
    assert_eq!(pool.stats().total.connecting, 1);
    assert_eq!(pool.stats().total.waiting, 1);

    drop(connecting);
    assert!(waiting.is_woken(), "the slot passes to the waiter");
    assert_pending!(waiting.poll()); // now connecting itself
    let stats = pool.stats();
    assert_eq!(
        (
            stats.total.open,
            stats.total.connecting,
            stats.total.waiting
        ),
        (1, 1, 0)
    );

    drop(waiting);
    let stats = pool.stats();
    assert_eq!(
        (
            stats.total.open,
            stats.total.connecting,
            stats.total.waiting
        ),
        (0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_connect_cancelled_by_a_timeout_frees_everything() {
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_total(1)
        .build()
        .unwrap();
    let pool = TestPool::new(config, Hanging);
    for _ in 0..100 {
        let attempt = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            pool.clone().oneshot("k"),
        )
        .await;
        assert!(attempt.is_err());
    }
    let stats = pool.stats();
    assert_eq!(
        (
            stats.total.open,
            stats.total.connecting,
            stats.total.waiting
        ),
        (0, 0, 0)
    );
    // The single unit of room came back every time: the next checkout
    // starts connecting at once instead of waiting.
    let mut next = task::spawn(pool.get("k"));
    assert_pending!(next.poll());
    let stats = pool.stats().total;
    assert_eq!((stats.connecting, stats.waiting), (1, 0), "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_key_whose_connects_never_finish_does_not_delay_another_key() {
    // `slow` may hold its own limit of connects and any number of waiting
    // checkouts; none of them holds room another key needs.
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(2)
        .max_idle_per_key(2)
        .max_total(4)
        .build()
        .unwrap();
    let pool = Pool::new(config, Split);
    let mut stuck = Vec::new();
    for _ in 0..10 {
        let mut checkout = task::spawn(pool.get("slow"));
        assert_pending!(checkout.poll());
        stuck.push(checkout);
    }
    let slow = *pool.stats().key(&"slow").unwrap();
    assert_eq!((slow.connecting, slow.waiting), (2, 8), "{slow:?}");
    for _ in 0..3 {
        let mut conn = task::spawn(pool.get("fast"));
        let conn = assert_ready_ok!(conn.poll());
        conn.release();
    }
    assert_eq!(pool.stats().key(&"fast").unwrap().activity.connects, 1);
}

#[tokio::test(start_paused = true)]
async fn the_checkout_timeout_fires_at_its_instant_and_says_what_it_waited_for() {
    const TIMEOUT: Duration = Duration::from_secs(7);
    let config = PoolBuilder::new()
        .close_policy(ClosePolicy::Local)
        .max_open_per_key(1)
        .max_idle_per_key(1)
        .checkout_timeout(TIMEOUT)
        .build()
        .unwrap();
    let pool = Pool::new(config, Split);
    // `fast`'s only connection stays lent: the next checkout waits for it.
    let held = pool.get("fast").await.unwrap();
    let start = tokio::time::Instant::now();
    let (connecting, waiting) = tokio::join!(pool.get("slow"), pool.get("fast"));
    assert_eq!(start.elapsed(), TIMEOUT);
    for (error, waited_for) in [
        (connecting.unwrap_err(), WaitingFor::Connect),
        (waiting.unwrap_err(), WaitingFor::Connection),
    ] {
        assert!(
            matches!(error, Error::Timeout { waited, waiting_for } if waited == TIMEOUT && waiting_for == waited_for),
            "{error:?}"
        );
    }
    let stats = pool.stats().total;
    assert_eq!(stats.activity.timeouts, 2, "{stats:?}");
    assert_eq!((stats.connecting, stats.waiting), (0, 0), "{stats:?}");
    // The lease outlived both, and the pool still serves its key.
    held.release();
    assert!(pool.get("fast").await.unwrap().is_reused());
}

/// Connects of the key `"slow"` never finish; every other key connects at
/// once.
#[derive(Clone, Debug)]
struct Split;

impl tower::Service<&'static str> for Split {
    type Response = TestConn;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TestConn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: &'static str) -> Self::Future {
        if key == "slow" {
            return Box::pin(std::future::pending());
        }
        let connecting = Connector::new(Server::Echo).oneshot(key);
        Box::pin(connecting)
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_the_peer_closed_while_lent_is_not_handed_to_a_waiter() {
    // Check-in does not look at the socket; the handoff goes through the same
    // health check as a checkout from the idle set, so the waiter gets a new
    // connection and the old one is retired as closed by the peer.
    let (pool, connector) = pool_with(1, 16);
    let mut held = pool.clone().oneshot("k").await.unwrap();
    let held_id = held.id;
    let mut waiting = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(waiting.poll());

    // The server closes on QUIT. The borrower reads its end of file and
    // releases the lease (wrongly, but the pool must hold up): the handoff
    // checks the connection first.
    tokio::io::AsyncWriteExt::write_all(&mut *held, b"QUIT\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut *held, &mut rest)
        .await
        .unwrap();
    assert!(rest.is_empty());
    held.release();

    let handed = waiting.await.unwrap();
    assert_ne!(handed.id, held_id, "the closed connection was lent");
    assert!(!handed.is_reused());
    assert_eq!(connector.made(), 2);
    assert_eq!(pool.stats().total.activity.retired.by_peer, 1);
}

#[tokio::test(start_paused = true)]
async fn a_checkout_blocked_on_the_total_is_served_before_a_later_checkout_of_a_busy_key() {
    // First come, first served across keys: `b` waits for room under the
    // total before `a`'s next checkout does, so the room `a`'s release makes
    // is `b`'s. (Found by review: the unit used to stay with `a`.)
    let (pool, _) = pool_with(4, 1);
    let a = pool.get("a").await.unwrap();
    let mut b = task::spawn(pool.get("b"));
    assert_pending!(b.poll());
    let mut later = task::spawn(pool.get("a"));
    assert_pending!(later.poll());
    a.release();
    assert!(b.is_woken(), "b, waiting first, was passed over");
    let b = assert_ready_ok!(b.poll());
    assert!(!later.is_woken());
    b.release();
    assert!(later.is_woken(), "the room came back to a");
    assert_ready_ok!(later.poll()).release();
}
