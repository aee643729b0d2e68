//! The ledger and the budget on tokio's paused clock: 2×MSL passes in no real
//! time, to the nanosecond, and random operation sequences are checked
//! against a naive model.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use timewait_core::budget::{Admission, PortBudget, PortRange, ReservedPorts};
use timewait_core::ledger::{Destination, LedgerTotals, TimeWaitLedger, TimeWaitUsage};
use tokio::time;

const LINUX: Duration = Duration::from_secs(60);
const RFC_793: Duration = Duration::from_secs(240);

fn dest(port: u16) -> Destination {
    Destination::new(SocketAddr::from(([192, 0, 2, 1], port)))
}

/// The runtime's (paused) clock, as the pool passes it to the core.
fn now() -> Instant {
    time::Instant::now().into_std()
}

/// Five ports, two of them reserved: three usable.
fn three_port_budget() -> PortBudget {
    let range = PortRange::new(40000, 40004).expect("valid range");
    let reserved: ReservedPorts = [PortRange::new(40001, 40002).expect("valid range")]
        .into_iter()
        .collect();
    PortBudget::new(range).with_reserved(reserved)
}

#[tokio::test(start_paused = true)]
async fn entries_expire_exactly_at_two_msl_and_not_a_tick_earlier() {
    let mut ledger = TimeWaitLedger::new(LINUX);
    let start = now();
    let end = ledger.record(dest(80), start);
    assert_eq!(end, start + LINUX);

    time::advance(LINUX - Duration::from_millis(1)).await;
    let almost = now();
    assert_eq!(almost, end - Duration::from_millis(1));
    assert_eq!(ledger.live(&dest(80), almost), 1);
    assert_eq!(ledger.expire(almost), 0);
    // One nanosecond before the end it is still live.
    let last_nanosecond = end - Duration::from_nanos(1);
    assert_eq!(ledger.live(&dest(80), last_nanosecond), 1);
    assert_eq!(ledger.expire(last_nanosecond), 0);
    assert_eq!(ledger.next_expiry(), Some(end));

    time::advance(Duration::from_millis(1)).await;
    let at_end = now();
    assert_eq!(at_end, end);
    assert_eq!(ledger.live(&dest(80), at_end), 0);
    assert_eq!(ledger.next_release(&dest(80), at_end), None);
    assert_eq!(ledger.expire(at_end), 1);
    assert_eq!(ledger.destinations(), 0);
    assert_eq!(ledger.next_expiry(), None);
}

#[tokio::test(start_paused = true)]
async fn sleeping_until_next_expiry_wakes_exactly_when_the_entry_ends() {
    // The pool's reaper loop: sleep until next_expiry, then expire.
    let mut ledger = TimeWaitLedger::new(LINUX);
    let start = now();
    ledger.record(dest(80), start);
    time::advance(Duration::from_secs(7)).await;
    ledger.record(dest(443), now());

    let mut woke = Vec::new();
    while let Some(deadline) = ledger.next_expiry() {
        time::sleep_until(time::Instant::from_std(deadline)).await;
        assert_eq!(ledger.expire(now()), 1);
        woke.push(now());
    }
    assert_eq!(
        woke,
        [start + LINUX, start + LINUX + Duration::from_secs(7)]
    );
    assert_eq!(ledger.destinations(), 0);
}

#[tokio::test(start_paused = true)]
async fn admission_waits_for_the_first_entry_and_goes_again_right_when_it_ends() {
    let budget = three_port_budget();
    assert_eq!(budget.usable_ports(), 3);
    let mut ledger = TimeWaitLedger::new(budget.time_wait());
    let to = dest(6379);

    let first_close = now();
    let first_end = ledger.record(to, first_close);
    assert_eq!(budget.admit(0, ledger.usage(&to, now())), Admission::Go);
    time::advance(Duration::from_secs(1)).await;
    ledger.record(to, now());
    assert_eq!(budget.admit(0, ledger.usage(&to, now())), Admission::Go);
    time::advance(Duration::from_secs(1)).await;
    ledger.record(to, now());

    // Three ports in TIME_WAIT: wait for the first one's 2MSL.
    assert_eq!(
        budget.admit(0, ledger.usage(&to, now())),
        Admission::WaitUntil(first_end)
    );
    // Another destination is unaffected.
    assert_eq!(
        budget.admit(0, ledger.usage(&dest(80), now())),
        Admission::Go
    );

    time::advance(first_end.saturating_duration_since(now()) - Duration::from_millis(1)).await;
    assert_eq!(
        budget.admit(0, ledger.usage(&to, now())),
        Admission::WaitUntil(first_end)
    );
    time::advance(Duration::from_millis(1)).await;
    assert_eq!(now(), first_close + LINUX);
    assert_eq!(budget.admit(0, ledger.usage(&to, now())), Admission::Go);
    // Two connections open plus two entries still live: spent again, and the
    // next wait is for the second entry.
    assert_eq!(
        budget.admit(1, ledger.usage(&to, now())),
        Admission::WaitUntil(first_end + Duration::from_secs(1))
    );
}

#[tokio::test(start_paused = true)]
async fn open_connections_alone_saturate_the_budget() {
    let budget = three_port_budget();
    let ledger = TimeWaitLedger::new(budget.time_wait());
    let usage = ledger.usage(&dest(80), now());
    assert_eq!(budget.admit(2, usage), Admission::Go);
    assert_eq!(budget.admit(3, usage), Admission::Saturated);

    // No amount of time frees a port held by an open connection.
    time::advance(RFC_793 * 10).await;
    assert_eq!(
        budget.admit(3, ledger.usage(&dest(80), now())),
        Admission::Saturated
    );
}

#[tokio::test(start_paused = true)]
async fn an_rfc_793_time_wait_moves_the_deadline_and_quarters_the_rate() {
    let linux = PortBudget::new(PortRange::LINUX_DEFAULT);
    let rfc = linux.clone().with_time_wait(RFC_793).expect("non-zero");
    assert!((linux.sustained_rate() - 470.53).abs() < 0.01);
    assert!((rfc.sustained_rate() - 117.63).abs() < 0.01);

    let mut short = TimeWaitLedger::new(linux.time_wait());
    let mut long = TimeWaitLedger::new(rfc.time_wait());
    let start = now();
    assert_eq!(short.record(dest(80), start), start + LINUX);
    assert_eq!(long.record(dest(80), start), start + RFC_793);

    time::advance(LINUX).await;
    assert_eq!(short.live(&dest(80), now()), 0);
    assert_eq!(long.live(&dest(80), now()), 1);
    time::advance(RFC_793 - LINUX - Duration::from_millis(1)).await;
    assert_eq!(long.live(&dest(80), now()), 1);
    time::advance(Duration::from_millis(1)).await;
    assert_eq!(long.live(&dest(80), now()), 0);
}

/// One step of a random run.
#[derive(Debug, Clone)]
enum Op {
    /// Record toward destination `dest`, at the current time minus `late_ms`
    /// (a task that read the clock a little before reporting).
    Record { dest: u16, late_ms: u64 },
    /// Move the clock forward.
    Advance { ms: u64 },
    /// Expire at the current time.
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4u16, prop_oneof![3 => Just(0u64), 1 => 0..5_000u64])
            .prop_map(|(dest, late_ms)| Op::Record { dest, late_ms }),
        3 => (0..20_000u64).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Expire),
    ]
}

/// The obvious implementation: every entry held, unsorted.
#[derive(Default)]
struct Model {
    held: Vec<(Destination, Instant)>,
    totals: LedgerTotals,
}

impl Model {
    fn expire(&mut self, now: Instant) -> usize {
        let before = self.held.len();
        self.held.retain(|&(_, end)| end > now);
        let dropped = before - self.held.len();
        self.totals.expired += dropped as u64;
        dropped
    }

    fn usage(&self, dest: &Destination, now: Instant) -> TimeWaitUsage {
        let live: Vec<Instant> = self
            .held
            .iter()
            .filter(|(d, end)| d == dest && *end > now)
            .map(|&(_, end)| end)
            .collect();
        TimeWaitUsage {
            live: live.len(),
            next_release: live.into_iter().min(),
        }
    }

    fn destinations(&self) -> usize {
        let mut dests: Vec<_> = self.held.iter().map(|(d, _)| *d).collect();
        dests.sort();
        dests.dedup();
        dests.len()
    }
}

proptest! {
    // The ledger answers every query as the naive model does, and holds
    // nothing once the clock passes the last end.
    #[test]
    fn the_ledger_agrees_with_a_naive_model(ops in prop::collection::vec(op(), 0..200)) {
        let start = Instant::now();
        let mut clock = start + Duration::from_secs(10);
        let mut ledger = TimeWaitLedger::new(LINUX);
        let mut model = Model::default();

        for op in ops {
            match op {
                Op::Record { dest: d, late_ms } => {
                    let at = clock - Duration::from_millis(late_ms);
                    let end = ledger.record(dest(d), at);
                    prop_assert_eq!(end, at + LINUX);
                    model.held.push((dest(d), end));
                    model.totals.recorded += 1;
                    model.expire(at);
                }
                Op::Advance { ms } => clock += Duration::from_millis(ms),
                Op::Expire => prop_assert_eq!(ledger.expire(clock), model.expire(clock)),
            }
            for d in 0..4 {
                let expected = model.usage(&dest(d), clock);
                prop_assert_eq!(ledger.usage(&dest(d), clock), expected);
                prop_assert_eq!(ledger.live(&dest(d), clock), expected.live);
                prop_assert_eq!(ledger.next_release(&dest(d), clock), expected.next_release);
            }
            let total: usize = (0..4).map(|d| model.usage(&dest(d), clock).live).sum();
            prop_assert_eq!(ledger.total_live(clock), total);
            prop_assert_eq!(ledger.iter(clock).count(), (0..4).filter(|&d| model.usage(&dest(d), clock).live > 0).count());
            prop_assert_eq!(ledger.next_expiry(), model.held.iter().map(|&(_, end)| end).min());
            prop_assert_eq!(ledger.destinations(), model.destinations());
            prop_assert_eq!(ledger.held(), model.held.len());
            prop_assert_eq!(ledger.totals(), model.totals);
        }

        let past_everything = clock + LINUX;
        prop_assert_eq!(ledger.expire(past_everything), model.expire(past_everything));
        prop_assert_eq!(ledger.destinations(), 0);
        prop_assert_eq!(ledger.held(), 0);
        prop_assert_eq!(ledger.next_expiry(), None);
        prop_assert_eq!(ledger.totals().recorded, ledger.totals().expired);
    }
}
