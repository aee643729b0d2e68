//! Properties of a tracked connection under random event sequences.
//!
//! Each case drives one connection through up to 64 events, advancing a
//! virtual clock between them and polling the TIME_WAIT timer each time.
//! Half the events are drawn from all events (most are then invalid and
//! skipped), half from those the current state takes, so walks reach the
//! closing states often. 256 cases by default; set `PROPTEST_CASES` for more.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use timewait_core::TcpState;
use timewait_core::connection::{Closer, TrackedConnection};
use timewait_core::machine::{Event, InvalidTransition, Open, Step};

/// How the next event is chosen.
#[derive(Debug, Clone)]
enum Pick {
    /// Any event, valid or not.
    Any(Event),
    /// One of the events the current state takes.
    Valid(Index),
}

#[derive(Debug, Clone)]
struct Input {
    start: Option<Open>,
    moves: Vec<(Pick, u64)>,
}

/// What happened at one point of a walk.
#[derive(Debug, Clone)]
enum Cause {
    /// `handle_timeout(now)` and what it returned.
    Timer(Option<Step>),
    /// `apply(event, now)` and what it returned.
    Event(Event, Result<Step, InvalidTransition>),
}

#[derive(Debug, Clone)]
struct Observed {
    before: TrackedConnection,
    now: Instant,
    cause: Cause,
    after: TrackedConnection,
}

fn input() -> impl Strategy<Value = Input> {
    let pick = prop_oneof![
        proptest::sample::select(Event::ALL.to_vec()).prop_map(Pick::Any),
        any::<Index>().prop_map(Pick::Valid),
    ];
    // Mostly short gaps; sometimes one long enough to reach a deadline.
    let advance_ms = prop_oneof![4 => 0u64..2_000, 1 => 55_000u64..65_000];
    let start = prop_oneof![
        Just(None),
        Just(Some(Open::Active)),
        Just(Some(Open::Passive)),
    ];
    (start, proptest::collection::vec((pick, advance_ms), 1..64))
        .prop_map(|(start, moves)| Input { start, moves })
}

/// Runs one walk and records every observation.
fn drive(input: &Input) -> Vec<Observed> {
    let local: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let remote: SocketAddr = "198.51.100.7:80".parse().unwrap();
    let mut now = Instant::now();
    let mut conn = match input.start {
        None => TrackedConnection::new(local, remote, now),
        Some(open) => TrackedConnection::established(local, remote, open, now),
    };
    let mut seen = Vec::new();
    for (pick, advance_ms) in &input.moves {
        now += Duration::from_millis(*advance_ms);

        let before = conn.clone();
        let fired = conn.handle_timeout(now);
        seen.push(Observed {
            before,
            now,
            cause: Cause::Timer(fired),
            after: conn.clone(),
        });

        let event = match pick {
            Pick::Any(event) => *event,
            Pick::Valid(index) => {
                let taken: Vec<Event> = Event::ALL
                    .into_iter()
                    .filter(|&e| conn.state().on(e).is_ok())
                    .collect();
                *index.get(&taken)
            }
        };
        let before = conn.clone();
        let result = conn.apply(event, now);
        seen.push(Observed {
            before,
            now,
            cause: Cause::Event(event, result),
            after: conn.clone(),
        });
    }
    seen
}

proptest! {
    // No panic; a rejected event changes nothing; an accepted one lands in the
    // state its step names.
    #[test]
    fn random_events_never_panic_and_rejected_ones_change_nothing(input in input()) {
        for seen in drive(&input) {
            if let Cause::Event(event, result) = &seen.cause {
                match result {
                    Err(err) => {
                        prop_assert_eq!((err.state, err.event), (seen.before.state(), *event));
                        prop_assert_eq!(&seen.after, &seen.before);
                    }
                    Ok(step) => prop_assert_eq!(seen.after.state(), step.next),
                }
            }
        }
    }

    // TIME_WAIT lands only on the side that sent the first FIN, or on both
    // sides of a simultaneous close; a connection the peer closed first never
    // enters it.
    #[test]
    fn time_wait_is_reached_only_by_the_local_or_simultaneous_closer(input in input()) {
        for seen in drive(&input) {
            let after = &seen.after;
            if after.state() == TcpState::TimeWait {
                prop_assert!(
                    matches!(after.closer(), Some(Closer::Local | Closer::Simultaneous)),
                    "TIME_WAIT with closer {:?}", after.closer()
                );
                prop_assert!(after.time_wait_until().is_some());
                if seen.before.state() != TcpState::TimeWait {
                    prop_assert_ne!(seen.before.closer(), Some(Closer::Remote));
                }
            }
            if after.closer() == Some(Closer::Remote) {
                prop_assert_ne!(after.state(), TcpState::TimeWait);
                prop_assert_eq!(after.entered(TcpState::TimeWait), seen.before.entered(TcpState::TimeWait));
            }
        }
    }

    // Only the 2MSL timer (at or after its deadline) or a RST ends TIME_WAIT.
    #[test]
    fn time_wait_is_left_only_by_its_timer_or_a_rst(input in input()) {
        for seen in drive(&input) {
            let left = seen.before.state() == TcpState::TimeWait
                && seen.after.state() != TcpState::TimeWait;
            if !left {
                continue;
            }
            prop_assert_eq!(seen.after.state(), TcpState::Closed);
            match &seen.cause {
                Cause::Timer(fired) => {
                    prop_assert!(fired.is_some());
                    let deadline = seen.before.time_wait_until().unwrap();
                    prop_assert!(seen.now >= deadline);
                }
                Cause::Event(event, _) => prop_assert!(
                    matches!(event, Event::RcvRst | Event::TimeWaitTimeout),
                    "TIME_WAIT left on {}", event
                ),
            }
        }
    }

    // While in TIME_WAIT the deadline only moves later, it is never earlier
    // than entry plus the TIME_WAIT length, and a retransmitted FIN pushes it
    // to at least its arrival plus that length.
    #[test]
    fn the_time_wait_deadline_never_decreases_and_restarts_on_a_fin(input in input()) {
        for seen in drive(&input) {
            if seen.after.state() != TcpState::TimeWait {
                prop_assert_eq!(seen.after.time_wait_until(), None);
                continue;
            }
            let after = seen.after.time_wait_until().unwrap();
            let entered = seen.after.entered(TcpState::TimeWait).unwrap();
            prop_assert!(after >= entered + seen.after.time_wait());
            if seen.before.state() == TcpState::TimeWait {
                prop_assert!(after >= seen.before.time_wait_until().unwrap());
                if let Cause::Event(event, Ok(_)) = &seen.cause {
                    prop_assert!(event.is_fin());
                    prop_assert!(after >= seen.now + seen.after.time_wait());
                }
            }
        }
    }

    // The timer fires at its deadline, not a moment before.
    #[test]
    fn the_timer_fires_exactly_when_its_deadline_has_come(input in input()) {
        for seen in drive(&input) {
            let Cause::Timer(fired) = &seen.cause else { continue };
            match seen.before.poll_timeout() {
                Some(deadline) if seen.now >= deadline => {
                    prop_assert!(fired.is_some());
                    prop_assert_eq!(seen.after.state(), TcpState::Closed);
                    prop_assert_eq!(seen.after.poll_timeout(), None);
                }
                _ => {
                    prop_assert!(fired.is_none());
                    prop_assert_eq!(&seen.after, &seen.before);
                }
            }
        }
    }
}
