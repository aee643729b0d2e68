//! Idle timeout, lifetime, keep-alive margin, grace and fallback, and the
//! port budget over 2×MSL, under paused time.

mod support;

use std::time::Duration;

use support::{Connector, Ended, Server, TestConn, settle};
use timewait_core::budget::{PortBudget, PortRange, TwReuse};
use timewait_pool::{
    ClosePolicy, Error, Fallback, FarewellMessage, OnPortsExhausted, Pool, PoolBuilder,
};
use tokio::time::{Instant, advance, sleep};
use tokio_test::{assert_pending, task};
use tower::ServiceExt;

type TestPool = Pool<&'static str, Connector, TestConn>;

fn builder() -> PoolBuilder<&'static str, TestConn> {
    PoolBuilder::new().farewell(FarewellMessage::new(&b"QUIT\n"[..]))
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_retired_at_its_idle_timeout_not_before() {
    let connector = Connector::new(Server::Echo);
    let config = builder()
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    pool.clone().oneshot("k").await.unwrap().release();

    advance(Duration::from_secs(29)).await;
    settle().await;
    assert_eq!(pool.stats().total.idle, 1);

    advance(Duration::from_secs(1)).await;
    settle().await;
    let stats = pool.stats();
    assert_eq!(stats.total.idle, 0);
    assert_eq!(
        stats.total.activity.retired.by_peer, 1,
        "QUIT made the server close first"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_its_lifetime_is_not_lent_again() {
    let connector = Connector::new(Server::Echo);
    let config = builder()
        .idle_timeout(None)
        .max_lifetime(Duration::from_secs(60))
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    let first = pool.clone().oneshot("k").await.unwrap();
    let first_id = first.id;
    advance(Duration::from_secs(59)).await;
    first.release();
    let again = pool.clone().oneshot("k").await.unwrap();
    assert_eq!(again.id, first_id, "still young enough at 59 s");
    advance(Duration::from_secs(1)).await;
    again.release();
    settle().await;
    let fresh = pool.clone().oneshot("k").await.unwrap();
    assert_ne!(fresh.id, first_id, "retired at 60 s");
    assert_eq!(pool.stats().total.activity.retired.by_peer, 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_farewell_the_pool_stops_lending_a_margin_before_the_peers_keep_alive() {
    // The server closes idle connections after 5 s; lending stops at 4 s.
    let connector = Connector::new(Server::Stubborn);
    let config = PoolBuilder::new()
        .idle_timeout(None)
        .peer_keep_alive(Duration::from_secs(5), Duration::from_secs(1))
        .grace(Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(config.idle_limit(), Some(Duration::from_secs(4)));
    let pool = TestPool::new(config, connector.clone());
    pool.clone().oneshot("k").await.unwrap().release();
    advance(Duration::from_millis(3999)).await;
    settle().await;
    assert_eq!(pool.stats().total.idle, 1);
    advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(pool.stats().total.idle, 0);
    assert_eq!(pool.stats().retiring, 1, "waiting for the peer's own close");
}

#[test]
fn past_the_keep_alive_margin_a_connection_is_not_lent_even_when_the_reaper_is_late() {
    // The pool's background tasks are spawned on a runtime that nobody
    // drives, so its reaper never runs: a reaper as late as can be. The
    // checkout itself must then see that the connection is past the margin
    // before the server's keep-alive close, and make a new one.
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let (idle_runtime, runtime) = (paused(), paused());
    let connector = Connector::new(Server::Stubborn);
    let config = PoolBuilder::new()
        .idle_timeout(None)
        .peer_keep_alive(Duration::from_secs(5), Duration::from_secs(1))
        .build()
        .unwrap();
    let pool = idle_runtime.block_on(async { TestPool::new(config, connector.clone()) });
    runtime.block_on(async {
        let first = pool.clone().oneshot("k").await.unwrap();
        let first_id = first.id;
        first.release();
        advance(Duration::from_millis(3999)).await;
        let early = pool.clone().oneshot("k").await.unwrap();
        assert_eq!(early.id, first_id, "lent again before the margin");
        early.release();

        advance(Duration::from_secs(4)).await;
        let late = pool.clone().oneshot("k").await.unwrap();
        assert_ne!(late.id, first_id, "lent past the margin");
        assert_eq!(connector.made(), 2);
    });
}

#[tokio::test(start_paused = true)]
async fn when_the_peer_never_closes_the_fallback_runs_at_the_end_of_the_grace() {
    let connector = Connector::new(Server::Stubborn);
    let config = builder()
        .max_uses(1)
        .grace(Duration::from_secs(3))
        .fallback(Fallback::Abort)
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    let guard = pool.clone().oneshot("k").await.unwrap();
    assert!(guard.is_final_use());
    let id = guard.id;
    guard.release();
    settle().await;
    assert_eq!(pool.stats().retiring, 1);
    advance(Duration::from_millis(2999)).await;
    settle().await;
    assert_eq!(pool.stats().retiring, 1, "still within the grace");
    advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(pool.stats().retiring, 0);
    assert_eq!(pool.stats().total.activity.retired.aborted, 1);
    assert_eq!(connector.ended(), vec![(id, Ended::Aborted)]);
}

fn two_port_budget() -> PortBudget {
    PortBudget::new(PortRange::new(40000, 40001).unwrap())
}

#[tokio::test(start_paused = true)]
async fn local_closes_spend_the_budget_and_a_checkout_waits_until_2msl_frees_a_port() {
    let connector = Connector::new(Server::Echo);
    let config = builder()
        .close_policy(ClosePolicy::Local)
        .max_uses(1)
        .port_budget(two_port_budget())
        .tw_reuse(TwReuse::Disabled)
        // The wait below is longer than the default checkout timeout.
        .checkout_timeout(None)
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    let start = Instant::now();
    pool.clone().oneshot("k").await.unwrap().release();
    advance(Duration::from_secs(10)).await;
    pool.clone().oneshot("k").await.unwrap().release();
    assert_eq!(pool.stats().total.local_time_wait, 2);

    let mut third = task::spawn(pool.clone().oneshot("k"));
    assert_pending!(third.poll());
    advance(Duration::from_secs(49)).await;
    assert_pending!(third.poll());
    advance(Duration::from_secs(1)).await;
    let guard = third.await.unwrap();
    assert_eq!(Instant::now() - start, Duration::from_secs(60));
    assert_eq!(guard.id, 2);
    let stats = pool.stats();
    assert_eq!(stats.total.activity.budget_waits, 1);
    assert_eq!(
        stats.total.local_time_wait, 1,
        "one of the two entries ended"
    );
}

#[tokio::test(start_paused = true)]
async fn with_fail_configured_spent_ports_are_a_typed_error_with_retry_after() {
    let connector = Connector::new(Server::Echo);
    let config = builder()
        .close_policy(ClosePolicy::Local)
        .max_uses(1)
        .port_budget(two_port_budget())
        .tw_reuse(TwReuse::Disabled)
        .on_ports_exhausted(OnPortsExhausted::Fail)
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    pool.clone().oneshot("k").await.unwrap().release();
    advance(Duration::from_secs(10)).await;
    pool.clone().oneshot("k").await.unwrap().release();
    let err = pool.clone().oneshot("k").await.unwrap_err();
    assert!(err.is_ports_exhausted(), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(50)));
    assert!(matches!(
        err,
        Error::PortsExhausted {
            destination: Some(_),
            ..
        }
    ));
    assert!(
        err.to_string().contains("PeerFirst"),
        "the message says what to change: {err}"
    );
    assert_eq!(connector.made(), 2);
}

#[tokio::test(start_paused = true)]
async fn peer_first_closes_never_touch_the_budget() {
    let connector = Connector::new(Server::Echo);
    let config = builder()
        .max_uses(1)
        .port_budget(two_port_budget())
        .tw_reuse(TwReuse::Disabled)
        .on_ports_exhausted(OnPortsExhausted::Fail)
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    for _ in 0..10 {
        let mut guard = pool.clone().oneshot("k").await.unwrap();
        assert_eq!(guard.echo("hi").await.unwrap(), "hi");
        guard.release();
        settle().await;
    }
    let stats = pool.stats();
    assert_eq!(stats.total.activity.connects, 10);
    assert_eq!(stats.total.activity.retired.by_peer, 10);
    assert_eq!(stats.total.local_time_wait, 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_retires_idle_connections_and_waits_for_lent_ones() {
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(builder().build().unwrap(), connector.clone());
    let lent = pool.clone().oneshot("a").await.unwrap();
    pool.clone().oneshot("b").await.unwrap().release();

    let shutting = pool.clone();
    let shutdown = tokio::spawn(async move { shutting.shutdown(Duration::from_secs(10)).await });
    sleep(Duration::from_secs(1)).await;
    assert!(
        pool.clone().oneshot("a").await.is_err(),
        "no lending after shutdown"
    );
    lent.release();
    let report = shutdown.await.unwrap();
    assert!(report.completed, "{report:?}");
    assert_eq!(report.idle_retired, 1);
    assert_eq!(report.retired.by_peer, 2);
    assert_eq!(report.still_in_use, 0);
    assert_eq!(pool.stats().total.open, 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_a_connection_never_returned_ends_at_its_deadline() {
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(builder().build().unwrap(), connector.clone());
    let _kept = pool.clone().oneshot("a").await.unwrap();
    let start = Instant::now();
    let report = pool.shutdown(Duration::from_secs(7)).await;
    assert_eq!(Instant::now() - start, Duration::from_secs(7));
    assert!(!report.completed);
    assert_eq!(report.still_in_use, 1);
}

#[tokio::test(start_paused = true)]
async fn a_use_that_outlasts_the_lifetime_is_the_final_one() {
    // An HTTP client asks `is_final_use` before it sends `Connection: close`;
    // the pool retires at check-in whatever is past its lifetime, so the two
    // must agree.
    let config = builder()
        .max_lifetime(Duration::from_secs(10))
        .build()
        .unwrap();
    let pool = TestPool::new(config, Connector::new(Server::Echo));
    let guard = pool.clone().oneshot("k").await.unwrap();
    assert!(!guard.is_final_use());
    guard.release();
    advance(Duration::from_secs(9)).await;
    let mut guard = pool.clone().oneshot("k").await.unwrap();
    assert!(guard.is_reused() && !guard.is_final_use());
    advance(Duration::from_secs(1)).await;
    assert!(guard.is_final_use(), "the lifetime ran out during this use");
    assert_eq!(guard.echo("still usable").await.unwrap(), "still usable");
    guard.release();
    settle().await;
    let next = pool.clone().oneshot("k").await.unwrap();
    assert!(
        !next.is_reused(),
        "a connection past its lifetime was lent again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_deadline_too_long_to_add_to_now_is_no_deadline() {
    // `Instant + Duration::MAX` overflows; the shutdown must take it as
    // "wait as long as it takes", not panic.
    let pool = TestPool::new(builder().build().unwrap(), Connector::new(Server::Echo));
    let mut guard = pool.clone().oneshot("k").await.unwrap();
    assert_eq!(guard.echo("hi").await.unwrap(), "hi");
    guard.release();
    let report = pool.shutdown(Duration::MAX).await;
    assert!(report.completed, "{report:?}");
    assert_eq!(report.retired.by_peer, 1, "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_the_server_closed_is_not_charged_as_a_local_close() {
    // The server closes a connection after its last answer; the guard saw a
    // complete exchange, so the connection goes back idle with the server's
    // FIN unread. Whatever retires it next (here the idle timeout, under
    // `Local`) must see that FIN: the TIME_WAIT is the server's, and no port
    // of this side is charged to the ledger.
    let connector = Connector::new(Server::Echo);
    let config = builder()
        .close_policy(ClosePolicy::Local)
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let pool = TestPool::new(config, connector.clone());
    let mut conn = pool.clone().oneshot("k").await.unwrap();
    // Through the connection itself: the guard sees no exchange in flight.
    tokio::io::AsyncWriteExt::write_all(&mut *conn, b"QUIT\n")
        .await
        .unwrap();
    settle().await;
    conn.release();
    assert_eq!(pool.stats().total.idle, 1);

    advance(Duration::from_secs(30)).await;
    settle().await;
    let total = pool.stats().total;
    assert_eq!(total.idle, 0);
    assert_eq!(total.activity.retired.by_peer, 1, "{total:?}");
    assert_eq!(total.activity.retired.local, 0, "{total:?}");
    assert_eq!(total.local_time_wait, 0, "no port charged");
}

#[tokio::test(start_paused = true)]
async fn an_idle_limit_the_peer_announced_ends_lending_before_the_pools_own() {
    // An HTTP server's `Keep-Alive: timeout=10` (less a margin), say: the
    // pool's 90 s idle timeout does not keep the connection lendable past it.
    let connector = Connector::new(Server::Echo);
    let pool = TestPool::new(builder().build().unwrap(), connector.clone());
    let mut conn = pool.get("k").await.unwrap();
    conn.peer_idle_limit = Some(Duration::from_secs(10));
    let id = conn.id;
    conn.release();
    advance(Duration::from_secs(9)).await;
    let again = pool.get("k").await.unwrap();
    assert!(again.is_reused() && again.id == id);
    again.release();
    advance(Duration::from_secs(10)).await;
    settle().await;
    let stats = pool.stats().total;
    assert_eq!(stats.idle, 0, "{stats:?}");
    assert_eq!(stats.activity.reasons.expired, 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn the_uses_the_peer_allows_make_the_last_one_final_and_none_retires() {
    // An HTTP server's `Keep-Alive: max=2`, counting down as it answers.
    let pool = TestPool::new(builder().build().unwrap(), Connector::new(Server::Echo));
    let mut conn = pool.get("k").await.unwrap();
    conn.remaining_uses = Some(2);
    assert!(!conn.is_final_use());
    conn.remaining_uses = Some(1);
    conn.release();
    let mut conn = pool.get("k").await.unwrap();
    assert!(conn.is_reused());
    assert!(conn.is_final_use(), "the peer allows this use only");
    conn.remaining_uses = Some(0);
    conn.release();
    settle().await;
    let stats = pool.stats().total;
    assert_eq!(
        (stats.open, stats.activity.reasons.used_up),
        (0, 1),
        "{stats:?}"
    );
    assert_eq!(
        stats.activity.retired.by_peer, 1,
        "the farewell made the server close"
    );
}
