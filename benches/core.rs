//! `timewait-core`'s model, on its own clock, with no I/O.
//!
//! - `core/ledger`, `record-expire/<destinations>`: one iteration records a
//!   TIME_WAIT entry toward the next of 1, 100 or 10,000 destinations (round
//!   robin) on a ledger that holds [`LIVE`] entries, and so expires the
//!   oldest, which ends at that very instant: the steady state of a client
//!   that closes first at a constant rate.
//! - `core/fsm`: one iteration is a whole connection through RFC 9293's
//!   machine, from CLOSED back to CLOSED: `active-close` (connect, send,
//!   close first, TIME-WAIT, its timeout), `passive-close` (listen, accept,
//!   the peer's FIN, close), and `tracked-active-close` (the first sequence
//!   through a `TrackedConnection`, which also keeps times and the closer).
//!
//! Run: `cargo bench --bench core`.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use timewait::core::TcpState;
use timewait::core::connection::TrackedConnection;
use timewait::core::ledger::{Destination, TimeWaitLedger};
use timewait::core::machine::{Event, Machine};

/// Entries the ledger holds in its steady state.
const LIVE: u32 = 10_000;
/// Time between two closes on the ledger's clock.
const CLOSE_EVERY: Duration = Duration::from_millis(1);
const DESTINATIONS: [u32; 3] = [1, 100, 10_000];

/// A client's connection: it opens, sends, closes first and waits out
/// TIME-WAIT.
const ACTIVE_CLOSE: [Event; 8] = [
    Event::ActiveOpen,
    Event::RcvSynAck,
    Event::Send,
    Event::RcvAck,
    Event::Close,
    Event::RcvAck,
    Event::RcvFin,
    Event::TimeWaitTimeout,
];
/// A server's connection whose client closes first.
const PASSIVE_CLOSE: [Event; 6] = [
    Event::PassiveOpen,
    Event::RcvSyn,
    Event::RcvAck,
    Event::RcvFin,
    Event::Close,
    Event::RcvAck,
];

/// `n` distinct destinations: port 443 on consecutive addresses of 10/8.
fn destinations(n: u32) -> Vec<Destination> {
    (0..n)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0a00_0000_u32.saturating_add(i));
            Destination::new(SocketAddr::from((ip, 443)))
        })
        .collect()
}

fn later(t: Instant, by: Duration) -> Instant {
    t.checked_add(by)
        .expect("the bench's clock stays within range")
}

fn ledger(c: &mut Criterion) {
    let mut group = c.benchmark_group("core/ledger");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in DESTINATIONS {
        let dests = destinations(n);
        let mut ledger = TimeWaitLedger::new(CLOSE_EVERY * LIVE);
        let mut now = Instant::now();
        let mut next = dests.iter().cycle();
        // Fill to the steady state: from here each record expires one.
        for _ in 0..LIVE {
            ledger.record(*next.next().expect("a cycle never ends"), now);
            now = later(now, CLOSE_EVERY);
        }
        group.bench_function(BenchmarkId::new("record-expire", n), |b| {
            b.iter(|| {
                let end = ledger.record(*next.next().expect("a cycle never ends"), now);
                now = later(now, CLOSE_EVERY);
                black_box(end)
            });
        });
        // Every record expired exactly one entry: the state stayed steady.
        let totals = ledger.totals();
        assert_eq!(totals.recorded - totals.expired, u64::from(LIVE));
        assert_eq!(ledger.destinations(), dests.len());
    }
    group.finish();
}

/// Runs `events` through a new machine; the state it ends in.
fn run_machine(events: &[Event]) -> TcpState {
    let mut machine = Machine::new();
    for &event in events {
        black_box(machine.on(event).expect("a legal sequence"));
    }
    machine.state()
}

/// Runs `events` through a new tracked connection, the clock moving a
/// millisecond per event and a TIME-WAIT's length before its timeout.
fn run_tracked(events: &[Event], start: Instant) -> TcpState {
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 50_000));
    let remote = SocketAddr::from((Ipv4Addr::LOCALHOST, 443));
    let mut now = start;
    let mut conn = TrackedConnection::new(local, remote, now);
    for &event in events {
        now = later(now, Duration::from_millis(1));
        if event == Event::TimeWaitTimeout {
            now = conn.time_wait_until().unwrap_or(now);
        }
        black_box(conn.apply(event, now).expect("a legal sequence"));
    }
    conn.state()
}

fn fsm(c: &mut Criterion) {
    let start = Instant::now();
    // The sequences are legal and end where a connection ends.
    assert_eq!(run_machine(&ACTIVE_CLOSE), TcpState::Closed);
    assert_eq!(run_machine(&PASSIVE_CLOSE), TcpState::Closed);
    assert_eq!(run_tracked(&ACTIVE_CLOSE, start), TcpState::Closed);

    let mut group = c.benchmark_group("core/fsm");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("active-close", |b| {
        b.iter(|| run_machine(black_box(&ACTIVE_CLOSE)));
    });
    group.bench_function("passive-close", |b| {
        b.iter(|| run_machine(black_box(&PASSIVE_CLOSE)));
    });
    group.bench_function("tracked-active-close", |b| {
        b.iter(|| run_tracked(black_box(&ACTIVE_CLOSE), start));
    });
    group.finish();
}

criterion_group!(benches, ledger, fsm);
criterion_main!(benches);
