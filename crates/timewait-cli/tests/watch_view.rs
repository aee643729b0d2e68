//! `watch`'s arithmetic on snapshots built by hand: which TIME_WAIT entries
//! are new, the rates, the sides, the time to exhaustion and the order.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use timewait_cli::exhaustion::{Exhaustion, time_to_exhaustion};
use timewait_cli::snapshot::{FourTuple, Snapshot};
use timewait_cli::watch::WatchView;
use timewait_core::budget::{PortBudget, PortRange, TwReuse};

const TW: Duration = Duration::from_secs(60);

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

fn tuple(local: &str, remote: &str) -> FourTuple {
    (addr(local), addr(remote))
}

fn snapshot(at: Instant, listening: &[u16], tw: &[(FourTuple, u64)]) -> Snapshot {
    Snapshot {
        at,
        listening: listening.iter().copied().collect::<BTreeSet<_>>(),
        time_wait: tw
            .iter()
            .map(|&(t, ms)| (t, Some(Duration::from_millis(ms))))
            .collect::<HashMap<_, _>>(),
        open: Vec::new(),
    }
}

#[test]
fn an_entry_is_new_when_absent_before_or_when_its_time_left_grew() {
    let t0 = Instant::now();
    let a = tuple("10.0.0.1:40000", "10.0.0.2:80");
    let earlier = snapshot(t0, &[], &[(a, 30_000)]);
    assert!(!Snapshot::is_new_since(
        &earlier,
        &a,
        Some(Duration::from_millis(29_000))
    ));
    assert!(!Snapshot::is_new_since(
        &earlier,
        &a,
        Some(Duration::from_millis(30_000))
    ));
    // The four-tuple went through TIME_WAIT again: its timer restarted.
    assert!(Snapshot::is_new_since(
        &earlier,
        &a,
        Some(Duration::from_millis(59_900))
    ));
    let b = tuple("10.0.0.1:40001", "10.0.0.2:80");
    assert!(Snapshot::is_new_since(
        &earlier,
        &b,
        Some(Duration::from_millis(1))
    ));
}

#[test]
fn rates_sides_and_listening_rows_come_from_two_snapshots() {
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(2);
    let old = tuple("10.0.0.1:40000", "10.0.0.2:80");
    let earlier = snapshot(t0, &[8080], &[(old, 50_000)]);
    let mut now_tw = vec![(old, 48_000)];
    for port in 40001..40011 {
        now_tw.push((tuple(&format!("10.0.0.1:{port}"), "10.0.0.2:80"), 59_000));
    }
    // Two server-side entries on listening port 8080, one new.
    now_tw.push((tuple("10.0.0.1:8080", "10.0.0.9:50000"), 59_000));
    now_tw.push((tuple("10.0.0.1:8080", "10.0.0.9:50001"), 59_000));
    let mut earlier = earlier;
    earlier.time_wait.insert(
        tuple("10.0.0.1:8080", "10.0.0.9:50000"),
        Some(Duration::from_secs(60)),
    );
    let now = snapshot(t1, &[8080], &now_tw);
    let budget = PortBudget::new(PortRange::new(40000, 40099).expect("a range"));
    let view = WatchView::build(&now, Some(&earlier), &budget, TwReuse::Disabled, "test", 10);
    assert_eq!(view.elapsed_ms, Some(2000));
    assert_eq!((view.client_time_wait, view.server_time_wait), (11, 2));
    let d = &view.destinations[0];
    assert_eq!(d.remote, "10.0.0.2:80");
    assert_eq!((d.time_wait, d.ports, d.headroom), (11, 100, 89));
    assert_eq!(d.new_time_wait, Some(10));
    assert_eq!(d.rate_per_second, Some(5.0));
    // 11 held, 5 more a second: the 100 ports are full in 17.8 s.
    assert_eq!(d.exhaustion, "in");
    let secs = d.exhaustion_secs.expect("a time");
    assert!((secs - 17.8).abs() < 1e-9, "{secs}");
    let l = &view.listening[0];
    assert_eq!(
        (l.port, l.server_time_wait, l.client_time_wait),
        (8080, 2, 0)
    );
    assert_eq!(l.new_server_time_wait, Some(1));
    assert_eq!(l.held_by, "server");
}

#[test]
fn one_snapshot_has_no_rates_and_the_most_endangered_destination_comes_first() {
    let t0 = Instant::now();
    let mut tw = Vec::new();
    for port in 40000..40100 {
        tw.push((tuple(&format!("10.0.0.1:{port}"), "10.0.0.3:443"), 10_000));
    }
    tw.push((tuple("10.0.0.1:40000", "10.0.0.2:80"), 10_000));
    let now = snapshot(t0, &[], &tw);
    let budget = PortBudget::new(PortRange::new(40000, 40099).expect("a range"));
    let view = WatchView::build(&now, None, &budget, TwReuse::Disabled, "test", 10);
    assert_eq!(view.elapsed_ms, None);
    let order: Vec<_> = view
        .destinations
        .iter()
        .map(|d| (d.remote.as_str(), d.exhaustion))
        .collect();
    assert_eq!(order, [("10.0.0.3:443", "now"), ("10.0.0.2:80", "unknown")]);
    assert_eq!(view.destinations[1].rate_per_second, None);
    let loopback = WatchView::build(&now, None, &budget, TwReuse::Enabled, "test", 1);
    assert_eq!(loopback.destinations.len(), 1);
    assert_eq!(loopback.destinations_total, 2);
    assert_eq!(loopback.destinations[0].exhaustion, "reuse");
}

#[test]
fn entries_ending_on_the_way_push_exhaustion_later() {
    // 50 entries end in 10 s; 5 new a second. With 100 ports, 50 + 5t reaches
    // 100 just as the 50 end; then 5t reaches 100 at 20 s.
    let mut ending = vec![Duration::from_secs(10); 50];
    assert_eq!(
        time_to_exhaustion(100, 0, &mut ending, 5.0, TW),
        Exhaustion::In(Duration::from_secs(20))
    );
    // With 80 ports, 50 + 5t reaches 80 at 6 s, before any ends.
    assert_eq!(
        time_to_exhaustion(80, 0, &mut ending, 5.0, TW),
        Exhaustion::In(Duration::from_secs(6))
    );
    // 1 a second never fills 100 ports: at most 60 in TIME_WAIT.
    assert_eq!(
        time_to_exhaustion(100, 0, &mut ending, 1.0, TW),
        Exhaustion::Never
    );
    // Filling the ports exactly at steady state is a fit, as in `plan`.
    assert_eq!(
        time_to_exhaustion(100, 40, &mut [], 1.0, TW),
        Exhaustion::Never
    );
    assert!(matches!(
        time_to_exhaustion(100, 41, &mut [], 1.0, TW),
        Exhaustion::In(_)
    ));
}

fn secs(e: Exhaustion) -> f64 {
    match e {
        Exhaustion::Now => 0.0,
        Exhaustion::In(t) => t.as_secs_f64(),
        Exhaustion::Never => f64::INFINITY,
    }
}

proptest! {
    #[test]
    fn a_higher_rate_never_exhausts_later(
        capacity in any::<u64>(),
        open in any::<u64>(),
        ms in prop::collection::vec(0u64..120_000, 0..50),
        rate in any::<f64>(),
        more in 0.0f64..1e6,
    ) {
        let mut left: Vec<Duration> = ms.iter().map(|&m| Duration::from_millis(m)).collect();
        let slow = time_to_exhaustion(capacity, open, &mut left, rate, TW);
        let faster = if rate.is_finite() && rate > 0.0 { rate + more } else { more };
        let fast = time_to_exhaustion(capacity, open, &mut left, faster, TW);
        prop_assert!(secs(fast) <= secs(slow), "{fast:?} after {slow:?}");
    }
}
