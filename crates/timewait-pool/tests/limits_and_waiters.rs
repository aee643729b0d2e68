//! Per-key limits, FIFO waiters, `poll_ready` backpressure and cancellation.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use support::{Connector, Server, TestConn};
use timewait_pool::{Error, Pool};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{Service, ServiceExt};

type TestPool<S = Connector> = Pool<&'static str, S, TestConn>;

fn pool_with(max_open: usize, max_total: usize) -> (TestPool, Connector) {
    let connector = Connector::new(Server::Echo);
    let config = TestPool::<Connector>::builder()
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

    drop(held);
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

    drop(held);
    assert!(!second.is_woken());
    let got = assert_ready_ok!(first.poll());
    assert_pending!(second.poll());
    drop(got);
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
    drop(held);
    assert!(second.is_woken());
    assert_ready_ok!(second.poll());
    assert_eq!(pool.stats().total.open, 1);
    assert_eq!(pool.stats().total.activity.reuses, 1, "handed to `second`");
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_the_handoff_gives_the_connection_back() {
    let (pool, connector) = pool_with(1, 16);
    let held = pool.clone().oneshot("k").await.unwrap();
    let mut first = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(first.poll());
    drop(held); // handed to `first`, which never looks at it
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
async fn poll_ready_applies_backpressure_at_the_total_cap() {
    let (pool, _) = pool_with(8, 2);
    let a = pool.clone().oneshot("a").await.unwrap();
    let b = pool.clone().oneshot("b").await.unwrap();

    let mut svc = pool.clone();
    let mut ready = task::spawn(std::future::poll_fn(move |cx| {
        svc.poll_ready(cx).map_ok(|()| svc.clone())
    }));
    assert_pending!(ready.poll());
    drop(a);
    assert!(ready.is_woken(), "a returned guard frees a permit");
    assert_ready!(ready.poll()).unwrap();
    drop(b);
}

#[tokio::test(start_paused = true)]
async fn a_clone_does_not_inherit_readiness() {
    let (mut pool, _) = pool_with(8, 1);
    pool.ready().await.unwrap();
    let mut clone = pool.clone();
    // The only permit is held by `pool`; the clone must wait for its own.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(clone.poll_ready(&mut cx).is_pending());
    let err = clone.call("k").await.unwrap_err();
    assert!(matches!(err, Error::NotReady), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_new_key_at_the_total_cap_retires_an_idle_connection_of_another_key() {
    let (pool, connector) = pool_with(8, 1);
    drop(pool.clone().oneshot("a").await.unwrap());
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
    drop(pool.clone().oneshot("a").await.unwrap());
    drop(pool.clone().oneshot("b").await.unwrap());
    // `a` is used again: `b` is now the least recently used.
    drop(pool.clone().oneshot("a").await.unwrap());
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
    let config = TestPool::<Hanging>::builder()
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
    let config = TestPool::<Hanging>::builder().max_total(1).build().unwrap();
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
    // The single readiness permit came back every time.
    let mut svc = pool.clone();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
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

    // The server closes on QUIT. The I/O goes to the connection itself, not
    // through the guard, so the guard sees no exchange left in flight and
    // check-in takes the connection as at rest.
    tokio::io::AsyncWriteExt::write_all(&mut *held, b"QUIT\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut *held, &mut rest)
        .await
        .unwrap();
    assert!(rest.is_empty());
    drop(held);

    let handed = waiting.await.unwrap();
    assert_ne!(handed.id, held_id, "the closed connection was lent");
    assert!(!handed.is_reused());
    assert_eq!(connector.made(), 2);
    assert_eq!(pool.stats().total.activity.retired.by_peer, 1);
}
