//! Unit tests of the ledger's internals: ordering, removal, shrinking.

use super::*;
use std::net::Ipv4Addr;

fn dest(port: u16) -> Destination {
    Destination::new(SocketAddr::from(([127, 0, 0, 1], port)))
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn counts_are_kept_per_destination() {
    let mut ledger = TimeWaitLedger::new(MINUTE);
    let t0 = Instant::now();
    for i in 0..3 {
        ledger.record(dest(80), t0 + Duration::from_secs(i));
    }
    ledger.record(dest(443), t0);
    let bound = dest(80).with_local_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    ledger.record(bound, t0);

    assert_eq!(ledger.live(&dest(80), t0), 3);
    assert_eq!(ledger.live(&dest(443), t0), 1);
    assert_eq!(ledger.live(&bound, t0), 1);
    assert_eq!(ledger.live(&dest(8080), t0), 0);
    assert_eq!(ledger.total_live(t0), 5);
    assert_eq!(ledger.destinations(), 3);
    assert_eq!(ledger.iter(t0).count(), 3);

    // One second after the first end: the first of port 80's ends is gone.
    let later = t0 + MINUTE;
    let usage = ledger.usage(&dest(80), later);
    assert_eq!(usage.live, 2);
    assert_eq!(usage.next_release, Some(later + Duration::from_secs(1)));
    assert_eq!(ledger.total_live(later), 2);
    assert_eq!(
        ledger.usage(&dest(443), later),
        TimeWaitUsage {
            live: 0,
            next_release: None
        }
    );
}

#[test]
fn an_earlier_instant_recorded_late_takes_its_sorted_place() {
    let mut ledger = TimeWaitLedger::new(MINUTE);
    let t0 = Instant::now();
    let s = Duration::from_secs;
    for at in [s(5), s(1), s(3), s(3), s(0), s(4)] {
        ledger.record(dest(80), t0 + at);
    }
    ledger.record(dest(81), t0 + s(2));

    let ends: Vec<_> = ledger.by_dest[&dest(80)].iter().copied().collect();
    let expected: Vec<_> = [0, 1, 3, 3, 4, 5].map(|i| t0 + MINUTE + s(i)).to_vec();
    assert_eq!(ends, expected);
    assert!(
        ledger
            .queue
            .iter()
            .zip(ledger.queue.iter().skip(1))
            .all(|(a, b)| a.0 <= b.0)
    );
    assert_eq!(ledger.next_expiry(), Some(t0 + MINUTE));

    // Expiry walks the global queue in order across both destinations.
    assert_eq!(ledger.expire(t0 + MINUTE + s(2)), 3);
    assert_eq!(ledger.live(&dest(80), t0 + MINUTE + s(2)), 4);
    assert_eq!(ledger.destinations(), 1);
}

#[test]
fn a_destination_is_forgotten_when_its_last_entry_expires() {
    let mut ledger = TimeWaitLedger::new(MINUTE);
    let t0 = Instant::now();
    ledger.record(dest(80), t0);
    ledger.record(dest(443), t0 + Duration::from_secs(1));

    assert_eq!(ledger.expire(t0 + MINUTE), 1);
    assert!(!ledger.by_dest.contains_key(&dest(80)));
    assert_eq!(ledger.destinations(), 1);
    assert_eq!(ledger.held(), 1);
}

#[test]
fn recording_expires_what_ended_by_then() {
    let mut ledger = TimeWaitLedger::new(MINUTE);
    let t0 = Instant::now();
    ledger.record(dest(80), t0);
    ledger.record(dest(443), t0 + MINUTE);

    assert_eq!(ledger.destinations(), 1);
    assert_eq!(
        ledger.totals(),
        LedgerTotals {
            recorded: 2,
            expired: 1
        }
    );
}

#[test]
fn totals_count_every_record_and_every_expiry() {
    let mut ledger = TimeWaitLedger::new(MINUTE);
    let t0 = Instant::now();
    for i in 0..10 {
        ledger.record(dest(80 + i % 3), t0);
    }
    assert_eq!(ledger.totals().recorded, 10);
    assert_eq!(ledger.totals().expired, 0);
    assert_eq!(ledger.expire(t0 + MINUTE), 10);
    assert_eq!(
        ledger.totals(),
        LedgerTotals {
            recorded: 10,
            expired: 10
        }
    );
    assert_eq!(ledger.held(), 0);
}

#[test]
fn buffers_shrink_once_mostly_expired() {
    let mut ledger = TimeWaitLedger::new(MINUTE);
    let t0 = Instant::now();
    for i in 0..10_000 {
        ledger.record(dest(80), t0 + Duration::from_millis(i));
    }
    let big = ledger.queue.capacity();
    assert!(big >= 10_000);

    ledger.expire(t0 + MINUTE + Duration::from_millis(9_990));
    assert_eq!(ledger.held(), 9);
    assert!(ledger.queue.capacity() <= 64, "{}", ledger.queue.capacity());
    assert!(ledger.by_dest[&dest(80)].capacity() <= 64);
}

#[test]
fn zero_length_entries_are_never_live() {
    let mut ledger = TimeWaitLedger::new(Duration::ZERO);
    let t0 = Instant::now();
    assert_eq!(ledger.record(dest(80), t0), t0);
    assert_eq!(ledger.live(&dest(80), t0), 0);
    assert_eq!(ledger.destinations(), 0);
    assert_eq!(ledger.totals().expired, 1);
}

#[test]
fn an_end_past_what_instant_can_hold_saturates_instead_of_panicking() {
    let mut ledger = TimeWaitLedger::new(Duration::MAX);
    let t0 = Instant::now();
    let end = ledger.record(dest(80), t0);
    assert!(end > t0 + Duration::from_secs(1 << 40));
    assert_eq!(end.checked_add(Duration::from_nanos(1)), None);
    assert_eq!(ledger.live(&dest(80), end), 0);
    assert_eq!(ledger.next_release(&dest(80), t0), Some(end));
}

#[test]
fn destinations_display_the_local_ip_only_when_bound() {
    let v6 = Destination::from(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 8443)));
    assert_eq!(v6.to_string(), "[::1]:8443");
    let bound = dest(80).with_local_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    assert_eq!(bound.to_string(), "127.0.0.1:80 from 10.0.0.2");
}
