//! Every configuration mistake is a typed error that says what to change.

use std::time::Duration;

use timewait_core::budget::{PortBudget, PortRange, ReservedPorts};
use timewait_pool::{ConfigError, FarewellMessage, PoolBuilder};
use tokio::net::TcpStream;

/// The defaults, with the farewell `PeerFirst` needs.
fn builder() -> PoolBuilder<&'static str, TcpStream> {
    PoolBuilder::new().farewell(FarewellMessage::new(&b"QUIT\n"[..]))
}

#[test]
fn zero_limits_are_refused_by_name() {
    let cases: [(PoolBuilder<&'static str, TcpStream>, &str); 6] = [
        (builder().max_idle_per_key(0), "max_idle_per_key"),
        (builder().max_open_per_key(0), "max_open_per_key"),
        (builder().max_total(0), "max_total"),
        (builder().max_keys(0), "max_keys"),
        (builder().max_retiring(0), "max_retiring"),
        (builder().max_uses(0), "max_uses"),
    ];
    for (builder, name) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err, ConfigError::ZeroLimit { name });
        assert!(err.to_string().contains(name) && err.to_string().contains("at least 1"));
    }
}

#[test]
fn zero_durations_are_refused_by_name() {
    let err = builder().grace(Duration::ZERO).build().unwrap_err();
    assert_eq!(err, ConfigError::ZeroDuration { name: "grace" });
    let err = builder().idle_timeout(Duration::ZERO).build().unwrap_err();
    assert_eq!(
        err,
        ConfigError::ZeroDuration {
            name: "idle_timeout"
        }
    );
}

#[test]
fn more_idle_than_open_is_refused() {
    let err = builder()
        .max_open_per_key(4)
        .max_idle_per_key(8)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::IdleAboveOpen { idle: 8, open: 4 });
}

#[test]
fn a_margin_as_long_as_the_keep_alive_is_refused() {
    let err = builder()
        .peer_keep_alive(Duration::from_secs(5), Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::MarginNotBelowKeepAlive { .. }),
        "{err}"
    );
}

#[test]
fn waiting_for_the_peers_idle_close_with_a_grace_shorter_than_the_margin_is_refused() {
    let err = PoolBuilder::<&'static str, TcpStream>::new()
        .peer_keep_alive(Duration::from_secs(60), Duration::from_secs(10))
        .grace(Duration::from_secs(2))
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::GraceBelowMargin { .. }), "{err}");
    assert!(err.to_string().contains("raise the grace"));
}

#[test]
fn a_budget_with_every_port_reserved_is_refused() {
    let range = PortRange::new(40000, 40009).unwrap();
    let reserved: ReservedPorts = [range].into_iter().collect();
    let err = builder()
        .port_budget(PortBudget::new(range).with_reserved(reserved))
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::NoUsablePorts { range });
}

#[test]
fn a_zero_time_wait_is_refused() {
    let err = builder().time_wait(Duration::ZERO).build().unwrap_err();
    assert!(matches!(err, ConfigError::Budget(_)), "{err}");
}

#[test]
fn the_defaults_build_and_read_the_kernel() {
    let config = builder().build().unwrap();
    assert_eq!(config.grace(), Duration::from_secs(5));
    assert_eq!(config.checkout_timeout(), Some(Duration::from_secs(30)));
    assert!(config.port_budget().usable_ports() > 0);
}

#[test]
fn peer_first_without_a_farewell_or_a_keep_alive_is_refused() {
    let err = PoolBuilder::<&'static str, TcpStream>::new()
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::PeerFirstWithoutFarewell { key: None });
}
