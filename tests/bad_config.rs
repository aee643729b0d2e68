//! Configuration mistakes a user can make, beyond those
//! `crates/timewait-pool/tests/config_errors.rs` covers: each is a typed
//! error whose message says what to change, or a value the pool takes
//! without panicking.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::net::IpAddr;
use std::time::Duration;

use reliability::memory::{MemConn, MemConnector, MemServer};
use reliability::request;
use timewait::core::budget::{BudgetError, PortBudget, PortRange, PortRangeError};
use timewait::pool::{
    ClosePolicy, ConfigError, ConnectError, Error, FarewellMessage, Pool, PoolBuilder, TcpConnector,
};

type MemPool = Pool<&'static str, MemConnector, MemConn>;

fn builder() -> PoolBuilder<&'static str, MemConn> {
    PoolBuilder::new()
        .close_policy(ClosePolicy::PeerFirst)
        .farewell(FarewellMessage::new(&b"QUIT\n"[..]))
}

/// Asserts that `error`'s message is lowercase, has no trailing period and
/// contains `fix`.
fn says(error: &dyn std::error::Error, fix: &str) {
    let message = error.to_string();
    assert!(message.contains(fix), "{message:?} does not say {fix:?}");
    assert!(!message.ends_with('.'), "{message:?}");
    let first = message.chars().next().unwrap();
    assert!(!first.is_uppercase(), "{message:?}");
}

#[test]
fn a_zero_max_lifetime_is_refused_by_name() {
    let error = builder().max_lifetime(Duration::ZERO).build().unwrap_err();
    assert_eq!(
        error,
        ConfigError::ZeroDuration {
            name: "max_lifetime"
        }
    );
    says(&error, "give it a positive duration, or leave it unset");
}

#[test]
fn each_config_error_message_says_what_to_change() {
    let cases: Vec<(PoolBuilder<&'static str, MemConn>, &str)> = vec![
        (builder().max_total(0), "give it at least 1"),
        (
            builder().idle_timeout(Duration::ZERO),
            "give it a positive duration",
        ),
        (
            builder().max_open_per_key(2).max_idle_per_key(3),
            "lower it to at most 2",
        ),
        (
            PoolBuilder::new()
                .peer_keep_alive(Duration::from_secs(60), Duration::from_secs(10))
                .grace(Duration::from_secs(1)),
            "raise the grace",
        ),
        (
            builder().port_budget(
                PortBudget::new(PortRange::new(50_000, 50_000).unwrap()).with_reserved(
                    [PortRange::new(50_000, 50_000).unwrap()]
                        .into_iter()
                        .collect(),
                ),
            ),
            "widen the range or reserve fewer ports",
        ),
        (
            builder().time_wait(Duration::ZERO),
            "use 60 s as Linux does",
        ),
    ];
    for (builder, fix) in cases {
        let error = builder.build().unwrap_err();
        says(&error, fix);
    }
    assert_eq!(
        builder().time_wait(Duration::ZERO).build().unwrap_err(),
        ConfigError::Budget(BudgetError::ZeroTimeWait)
    );
}

#[test]
fn a_port_range_with_port_zero_or_inverted_ends_is_a_typed_error_that_says_the_fix() {
    let zero = PortRange::new(0, 100).unwrap_err();
    assert_eq!(zero, PortRangeError::ZeroPort);
    says(&zero, "use ports from 1 to 65535");
    let inverted = PortRange::new(60_999, 32_768).unwrap_err();
    assert_eq!(
        inverted,
        PortRangeError::Inverted {
            low: 60_999,
            high: 32_768
        }
    );
    says(&inverted, "give the lower port first (32768-60999)");
}

#[test]
fn the_keep_alive_margin_message_says_what_to_change() {
    let margin = builder()
        .peer_keep_alive(Duration::from_secs(5), Duration::from_secs(5))
        .build()
        .unwrap_err();
    says(&margin, "shorten the margin");
}

#[test]
fn peer_first_with_nothing_that_makes_the_peer_close_says_what_to_set() {
    // The pool's own policy, with neither a farewell nor a keep-alive.
    let error = PoolBuilder::<&'static str, MemConn>::new()
        .build()
        .unwrap_err();
    assert_eq!(error, ConfigError::PeerFirstWithoutFarewell { key: None });
    says(&error, "set a farewell (PoolBuilder::farewell)");
    says(&error, "or choose ClosePolicy::Local");
    // A key's override names the key.
    let error = PoolBuilder::<&'static str, MemConn>::new()
        .close_policy(ClosePolicy::Local)
        .close_policy_for("db", ClosePolicy::PeerFirst)
        .build()
        .unwrap_err();
    says(&error, "(for key \"db\")");
    // Either way of making the peer close is enough.
    let with_keep_alive = PoolBuilder::<&'static str, MemConn>::new()
        .peer_keep_alive(Duration::from_secs(60), Duration::from_secs(1))
        .build();
    assert!(with_keep_alive.is_ok(), "{with_keep_alive:?}");
}

#[test]
fn the_checkout_timeout_message_says_what_the_checkout_waited_for() {
    let error = Error::Timeout {
        waited: Duration::from_secs(30),
        waiting_for: timewait::pool::WaitingFor::Ports,
    };
    says(
        &error,
        "waiting for a free ephemeral port toward the destination",
    );
    let zero = builder()
        .checkout_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    says(&zero, "checkout_timeout is zero");
}

#[tokio::test]
async fn a_source_address_not_on_this_host_is_a_bind_error_not_ports_exhausted() {
    // The kernel answers a bind to a foreign address with EADDRNOTAVAIL, the
    // errno of an exhausted port range; the pool must not take one for the
    // other. Nothing is sent: the bind fails first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let foreign: IpAddr = "192.0.2.1".parse().unwrap();
    let pool = Pool::builder(TcpConnector::new().bind_ip(Some(foreign)))
        .close_policy(ClosePolicy::Local)
        .build()
        .unwrap();
    let error = pool.get(server).await.unwrap_err();
    assert!(!error.is_ports_exhausted(), "{error:?}");
    let Error::Connect(source) = &error else {
        panic!("expected a connect error, got {error:?}");
    };
    let bind = source.downcast_ref::<ConnectError>().unwrap();
    assert!(
        matches!(bind, ConnectError::Bind { ip, .. } if *ip == foreign),
        "{bind:?}"
    );
    says(bind, "use an address of this host");
}

#[tokio::test]
async fn a_source_address_of_the_other_family_is_a_bind_error_that_says_the_fix() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let connector = TcpConnector::new().bind_ip(Some("::1".parse().unwrap()));
    let error = connector.connect(server).await.unwrap_err();
    assert!(matches!(error, ConnectError::Bind { .. }), "{error:?}");
    says(&error, "of the same family as the destination");
}

/// Checks out, makes a request, retires the connection and shuts down: the
/// paths that compute deadlines from the configured durations.
async fn exercise(pool: &MemPool) {
    let mut conn = pool.get("k").await.unwrap();
    assert_eq!(request(&mut conn, "hello").await.unwrap(), "hello");
    conn.release();
    let mut again = pool.get("k").await.unwrap();
    assert!(again.is_reused());
    again.retire_after_use();
    again.release();
    let report = pool.shutdown(Duration::from_secs(10)).await;
    assert!(report.completed, "{report:?}");
    // A retirement task that panicked would leave its connection uncounted.
    let retired = pool.stats().total.activity.retired;
    assert_eq!(retired.total(), 1, "{retired:?}");
}

/// A duration too long to add to an instant must be refused with a typed
/// error or taken as "never": a panic in a guard's drop or in the
/// retirement task is neither.
async fn a_huge_duration_is_refused_or_taken(builder: PoolBuilder<&'static str, MemConn>) {
    match builder.build() {
        Err(error) => assert!(!error.to_string().is_empty()),
        Ok(config) => exercise(&MemPool::new(config, MemConnector::new(MemServer::Echo))).await,
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_time_wait_length_is_refused_or_taken() {
    a_huge_duration_is_refused_or_taken(builder().time_wait(Duration::MAX)).await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_idle_timeout_is_refused_or_taken() {
    a_huge_duration_is_refused_or_taken(builder().idle_timeout(Duration::MAX)).await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_max_lifetime_is_refused_or_taken() {
    a_huge_duration_is_refused_or_taken(builder().max_lifetime(Duration::MAX)).await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_checkout_timeout_is_refused_or_taken() {
    a_huge_duration_is_refused_or_taken(builder().checkout_timeout(Duration::MAX)).await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_grace_is_refused_or_taken() {
    a_huge_duration_is_refused_or_taken(builder().grace(Duration::MAX)).await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_peer_keep_alive_is_refused_or_taken() {
    a_huge_duration_is_refused_or_taken(
        builder()
            .idle_timeout(None)
            .peer_keep_alive(Duration::MAX, Duration::from_secs(1)),
    )
    .await;
}
