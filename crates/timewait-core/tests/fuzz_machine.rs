//! The state machine, the tracked connection, the ledger and the budget
//! under arbitrary input: event sequences from every start, instants that go
//! backwards or to the edge of what an `Instant` holds, TIME_WAIT lengths
//! from zero to `Duration::MAX`, state names of any text. No panic, and the
//! answers keep their contracts.
//!
//! `machine_properties.rs` checks the TIME_WAIT rules on realistic walks;
//! this file goes for the edges. `PROPTEST_CASES` sets the number of cases
//! (CI asks for more).
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use timewait_core::budget::{Admission, PortBudget, PortRange, ReservedPorts};
use timewait_core::connection::TrackedConnection;
use timewait_core::ledger::{Destination, TimeWaitLedger, TimeWaitUsage};
use timewait_core::machine::{Event, Machine, Open, transitions};
use timewait_core::{KernelState, TcpState};

fn event() -> impl Strategy<Value = Event> {
    proptest::sample::select(Event::ALL.to_vec())
}

fn start() -> impl Strategy<Value = Machine> {
    prop_oneof![
        Just(Machine::new()),
        Just(Machine::established(Open::Active)),
        Just(Machine::established(Open::Passive)),
    ]
}

/// A duration from nothing to the largest there is, weighted toward the
/// edges.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_secs(60)),
        (0u64..=u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..600_000_000_000).prop_map(Duration::from_nanos),
    ]
}

/// An offset from a base instant, either way, as far as the instant allows.
fn offset() -> impl Strategy<Value = (bool, Duration)> {
    (any::<bool>(), any_duration())
}

fn shift(base: Instant, (back, by): (bool, Duration)) -> Option<Instant> {
    if back {
        base.checked_sub(by)
    } else {
        base.checked_add(by)
    }
}

proptest! {
    // The machine is the table, plus one rule the table cannot know: a RST in
    // SYN-RECEIVED after a passive open returns to LISTEN. A rejected event
    // changes nothing.
    #[test]
    fn the_machine_follows_the_table_for_any_event_sequence(
        mut machine in start(),
        events in proptest::collection::vec(event(), 0..200),
    ) {
        let table: Vec<_> = transitions().collect();
        for event in events {
            let before = machine;
            let expected = before.state().on(event);
            match (machine.on(event), expected) {
                (Err(error), Err(table_error)) => {
                    prop_assert_eq!(error, table_error);
                    prop_assert_eq!((error.state, error.event), (before.state(), event));
                    prop_assert!(error.to_string().contains(event.name()));
                    prop_assert_eq!(machine, before);
                }
                (Ok(step), Ok(table_step)) => {
                    prop_assert!(table.contains(&(before.state(), event, table_step)));
                    let passive_rst = before.state() == TcpState::SynReceived
                        && event == Event::RcvRst
                        && before.opened() == Some(Open::Passive);
                    if passive_rst {
                        prop_assert_eq!(step.next, TcpState::Listen);
                        prop_assert_eq!((step.send, step.time_wait), (table_step.send, table_step.time_wait));
                    } else {
                        prop_assert_eq!(step, table_step);
                    }
                    prop_assert_eq!(machine.state(), step.next);
                    match (before.state(), event) {
                        (_, Event::PassiveOpen) => prop_assert_eq!(machine.opened(), Some(Open::Passive)),
                        (_, Event::ActiveOpen) | (TcpState::Listen, Event::Send) => {
                            prop_assert_eq!(machine.opened(), Some(Open::Active));
                        }
                        _ => prop_assert_eq!(machine.opened(), before.opened()),
                    }
                }
                (got, table_says) => {
                    prop_assert!(false, "machine {:?}, table {:?}", got, table_says);
                }
            }
        }
    }

    // Any instants (backwards, far ahead) and any TIME_WAIT length: no
    // panic; a deadline exists only in TIME_WAIT and is never before the
    // instant its timer started; the timer fires only at or after it.
    #[test]
    fn a_tracked_connection_takes_any_instant_and_any_time_wait_length(
        established in any::<bool>(),
        length in any_duration(),
        moves in proptest::collection::vec((event(), offset(), any::<bool>()), 0..100),
    ) {
        let local: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let remote: SocketAddr = "198.51.100.7:80".parse().unwrap();
        let base = Instant::now();
        let mut conn = if established {
            TrackedConnection::established(local, remote, Open::Active, base)
        } else {
            TrackedConnection::new(local, remote, base)
        }
        .with_time_wait(length);
        for (event, offset, poll_timer) in moves {
            let Some(now) = shift(base, offset) else { continue };
            let before = conn.clone();
            if poll_timer {
                let fired = conn.handle_timeout(now);
                let due = before.state() == TcpState::TimeWait
                    && before.time_wait_until().is_some_and(|d| now >= d);
                prop_assert_eq!(fired.is_some(), due);
                if fired.is_some() {
                    prop_assert_eq!(conn.state(), TcpState::Closed);
                } else {
                    prop_assert_eq!(&conn, &before);
                }
                continue;
            }
            match conn.apply(event, now) {
                Err(_) => prop_assert_eq!(&conn, &before),
                Ok(step) => {
                    prop_assert_eq!(conn.state(), step.next);
                    prop_assert!(conn.entered(step.next).is_some());
                }
            }
            match conn.time_wait_until() {
                Some(deadline) => {
                    prop_assert_eq!(conn.state(), TcpState::TimeWait);
                    let started = conn.entered(TcpState::TimeWait).unwrap();
                    prop_assert!(deadline >= started, "{:?} before {:?}", deadline, started);
                    prop_assert_eq!(conn.poll_timeout(), Some(deadline));
                }
                None => prop_assert_eq!(conn.poll_timeout(), None),
            }
        }
    }

    // Any text: a state or a typed error that quotes the text.
    #[test]
    fn any_text_parses_to_a_state_or_an_error_naming_it(text in any::<String>()) {
        match text.parse::<TcpState>() {
            Ok(state) => prop_assert!(TcpState::ALL.contains(&state)),
            Err(error) => {
                prop_assert_eq!(error.text(), text.as_str());
                prop_assert!(error.to_string().contains("TIME_WAIT"));
            }
        }
    }

    #[test]
    fn every_spelling_of_a_state_parses_back_to_it(
        state in proptest::sample::select(TcpState::ALL.to_vec()),
        lower in any::<bool>(),
        padded in any::<bool>(),
    ) {
        for name in [state.linux_name(), state.rfc_name(), &state.to_string()] {
            let mut text = if lower { name.to_lowercase() } else { name.to_owned() };
            if padded {
                text = format!("  {text}\n");
            }
            prop_assert_eq!(text.parse::<TcpState>(), Ok(state));
        }
    }

    // The ledger takes entries at any instant, in any order, of any length,
    // and answers for any instant.
    #[test]
    fn the_ledger_takes_any_instants_and_any_time_wait_length(
        length in any_duration(),
        records in proptest::collection::vec((0u16..4, offset()), 0..40),
        queries in proptest::collection::vec((0u16..4, offset(), any::<bool>()), 0..40),
    ) {
        let base = Instant::now();
        let dest = |n: u16| Destination::new(SocketAddr::from(([192, 0, 2, 1], 80 + n)));
        let mut ledger = TimeWaitLedger::new(length);
        let mut recorded = 0u64;
        for (n, at) in records {
            let Some(at) = shift(base, at) else { continue };
            let end = ledger.record(dest(n), at);
            prop_assert!(end >= at);
            recorded += 1;
        }
        prop_assert_eq!(ledger.totals().recorded, recorded);
        for (n, at, expire) in queries {
            let Some(now) = shift(base, at) else { continue };
            let usage = ledger.usage(&dest(n), now);
            prop_assert_eq!(usage.live, ledger.live(&dest(n), now));
            prop_assert_eq!(usage.next_release, ledger.next_release(&dest(n), now));
            prop_assert_eq!(usage.live == 0, usage.next_release.is_none());
            prop_assert!(usage.next_release.is_none_or(|end| end > now));
            prop_assert!(ledger.total_live(now) <= ledger.held());
            if expire {
                let held = ledger.held();
                let dropped = ledger.expire(now);
                prop_assert_eq!(ledger.held(), held - dropped);
                prop_assert!(ledger.next_expiry().is_none_or(|end| end > now));
            }
        }
    }

    // The budget answers for any range, any reserved ports, any counts.
    #[test]
    fn the_budget_admits_by_its_arithmetic_for_any_counts(
        ends in any::<(u16, u16)>(),
        reserved in proptest::collection::vec(any::<(u16, u16)>(), 0..6),
        in_use in prop_oneof![0usize..200, Just(usize::MAX)],
        live in prop_oneof![0usize..200, Just(usize::MAX)],
        release in proptest::option::of(offset()),
    ) {
        let Ok(range) = PortRange::new(ends.0, ends.1) else {
            // Zero or inverted: a typed error, checked by the parser tests.
            return Ok(());
        };
        let reserved: ReservedPorts = reserved
            .into_iter()
            .filter_map(|(a, b)| PortRange::new(a.min(b), a.max(b)).ok())
            .collect();
        let budget = PortBudget::new(range).with_reserved(reserved);
        let usable = budget.usable_ports();
        prop_assert!(usable <= range.len());
        prop_assert!(budget.sustained_rate().is_finite());
        let next_release = release.and_then(|o| shift(Instant::now(), o));
        let admission = budget.admit(in_use, TimeWaitUsage { live, next_release });
        let usable = usize::try_from(usable).unwrap();
        match admission {
            Admission::Go => prop_assert!(in_use.saturating_add(live) < usable),
            Admission::WaitUntil(at) => {
                prop_assert!(in_use < usable);
                prop_assert_eq!(Some(at), next_release);
            }
            Admission::Saturated => prop_assert!(
                in_use.saturating_add(live) >= usable && (in_use >= usable || next_release.is_none())
            ),
        }
    }
}

#[test]
fn every_kernel_state_code_round_trips_and_names_itself() {
    for code in 0..=u8::MAX {
        let state = KernelState::from_code(code);
        assert_eq!(state.code(), code);
        assert_eq!(state.tcp_state().is_some(), (1..=11).contains(&code));
        assert!(!state.to_string().is_empty());
    }
}
