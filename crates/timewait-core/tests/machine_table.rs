//! The transition table, written out by hand from RFC 9293 and compared with
//! the library's both ways.

use std::collections::BTreeMap;

use timewait_core::TcpState;
use timewait_core::machine::{self, Event, Machine, Open, Segment, Step, TimeWaitTimer};

use Event::*;
use TcpState::{
    CloseWait, Closed, Closing, Established, FinWait1, FinWait2, LastAck, Listen, SynReceived,
    SynSent, TimeWait,
};

const NONE: Option<Segment> = None;
const SYN: Option<Segment> = Some(Segment::Syn);
const SYN_ACK: Option<Segment> = Some(Segment::SynAck);
const ACK: Option<Segment> = Some(Segment::Ack);
const FIN: Option<Segment> = Some(Segment::Fin);
const RST: Option<Segment> = Some(Segment::Rst);
const DATA: Option<Segment> = Some(Segment::Data);

use TimeWaitTimer::{Restart, Start, Stop, Unchanged};

/// Every row: (state, event, next state, segment sent, timer effect).
#[rustfmt::skip]
const EXPECTED: &[(TcpState, Event, TcpState, Option<Segment>, TimeWaitTimer)] = &[
    // CLOSED: only an OPEN creates a TCB (§3.10.1).
    (Closed, ActiveOpen, SynSent, SYN, Unchanged),
    (Closed, PassiveOpen, Listen, NONE, Unchanged),
    // LISTEN.
    (Listen, ActiveOpen, SynSent, SYN, Unchanged),
    (Listen, Send, SynSent, SYN, Unchanged),
    (Listen, Close, Closed, NONE, Unchanged),
    (Listen, Abort, Closed, NONE, Unchanged),
    (Listen, RcvSyn, SynReceived, SYN_ACK, Unchanged),
    // SYN-SENT.
    (SynSent, Send, SynSent, NONE, Unchanged),
    (SynSent, Close, Closed, NONE, Unchanged),
    (SynSent, Abort, Closed, NONE, Unchanged),
    (SynSent, RcvSyn, SynReceived, SYN_ACK, Unchanged),
    (SynSent, RcvSynAck, Established, ACK, Unchanged),
    (SynSent, RcvRst, Closed, NONE, Unchanged),
    // SYN-RECEIVED.
    (SynReceived, Send, SynReceived, NONE, Unchanged),
    (SynReceived, Close, FinWait1, FIN, Unchanged),
    (SynReceived, Abort, Closed, RST, Unchanged),
    (SynReceived, RcvSynAck, Established, NONE, Unchanged),
    (SynReceived, RcvAck, Established, NONE, Unchanged),
    (SynReceived, RcvFin, CloseWait, ACK, Unchanged),
    (SynReceived, RcvRst, Closed, NONE, Unchanged),
    // ESTABLISHED.
    (Established, Send, Established, DATA, Unchanged),
    (Established, Close, FinWait1, FIN, Unchanged),
    (Established, Abort, Closed, RST, Unchanged),
    (Established, RcvAck, Established, NONE, Unchanged),
    (Established, RcvFin, CloseWait, ACK, Unchanged),
    (Established, RcvRst, Closed, NONE, Unchanged),
    // FIN-WAIT-1.
    (FinWait1, Abort, Closed, RST, Unchanged),
    (FinWait1, RcvAck, FinWait2, NONE, Unchanged),
    (FinWait1, RcvFin, Closing, ACK, Unchanged),
    (FinWait1, RcvFinAck, TimeWait, ACK, Start),
    (FinWait1, RcvRst, Closed, NONE, Unchanged),
    // FIN-WAIT-2.
    (FinWait2, Abort, Closed, RST, Unchanged),
    (FinWait2, RcvAck, FinWait2, NONE, Unchanged),
    (FinWait2, RcvFin, TimeWait, ACK, Start),
    (FinWait2, RcvFinAck, TimeWait, ACK, Start),
    (FinWait2, RcvRst, Closed, NONE, Unchanged),
    // CLOSE-WAIT.
    (CloseWait, Send, CloseWait, DATA, Unchanged),
    (CloseWait, Close, LastAck, FIN, Unchanged),
    (CloseWait, Abort, Closed, RST, Unchanged),
    (CloseWait, RcvAck, CloseWait, NONE, Unchanged),
    (CloseWait, RcvFin, CloseWait, ACK, Unchanged),
    (CloseWait, RcvRst, Closed, NONE, Unchanged),
    // CLOSING.
    (Closing, Abort, Closed, NONE, Unchanged),
    (Closing, RcvAck, TimeWait, NONE, Start),
    (Closing, RcvFin, Closing, ACK, Unchanged),
    (Closing, RcvFinAck, TimeWait, ACK, Start),
    (Closing, RcvRst, Closed, NONE, Unchanged),
    // LAST-ACK.
    (LastAck, Abort, Closed, NONE, Unchanged),
    (LastAck, RcvAck, Closed, NONE, Unchanged),
    (LastAck, RcvFin, LastAck, ACK, Unchanged),
    (LastAck, RcvFinAck, Closed, NONE, Unchanged),
    (LastAck, RcvRst, Closed, NONE, Unchanged),
    // TIME-WAIT.
    (TimeWait, RcvFin, TimeWait, ACK, Restart),
    (TimeWait, RcvFinAck, TimeWait, ACK, Restart),
    (TimeWait, RcvRst, Closed, NONE, Stop),
    (TimeWait, TimeWaitTimeout, Closed, NONE, Stop),
];

fn expected() -> BTreeMap<(TcpState, Event), Step> {
    let mut rows = BTreeMap::new();
    for &(state, event, next, send, time_wait) in EXPECTED {
        let step = Step {
            next,
            send,
            time_wait,
        };
        assert!(
            rows.insert((state, event), step).is_none(),
            "row ({state}, {event}) is written twice"
        );
    }
    rows
}

// Every hand-written row is in the library's table with the same step, and the
// library's table has no row that is not written here.
#[test]
fn the_table_matches_the_hand_written_rows_both_ways() {
    let expected = expected();
    let actual: BTreeMap<(TcpState, Event), Step> = machine::transitions()
        .map(|(state, event, step)| ((state, event), step))
        .collect();

    for (&(state, event), want) in &expected {
        assert_eq!(
            actual.get(&(state, event)),
            Some(want),
            "row ({state}, {event}) differs or is missing from the library"
        );
        assert_eq!(state.on(event), Ok(*want));
    }
    for (&(state, event), step) in &actual {
        assert!(
            expected.contains_key(&(state, event)),
            "the library has a row the RFC list lacks: ({state}, {event}) -> {step:?}"
        );
    }
    assert_eq!(actual.len(), EXPECTED.len());
}

// An event a state cannot take is an error naming both, never a panic.
#[test]
fn every_pair_not_in_the_table_is_rejected_naming_state_and_event() {
    let expected = expected();
    let mut rejected = 0;
    for state in TcpState::ALL {
        for event in Event::ALL {
            if expected.contains_key(&(state, event)) {
                continue;
            }
            let err = state.on(event).unwrap_err();
            assert_eq!((err.state, err.event), (state, event));
            let message = err.to_string();
            let head = format!("event {event} is not valid in state {state}");
            assert!(message.starts_with(&head), "{message}");
            rejected += 1;
        }
    }
    assert_eq!(
        rejected,
        TcpState::ALL.len() * Event::ALL.len() - EXPECTED.len()
    );
}

// The error says what the state would take instead.
#[test]
fn the_error_lists_the_events_the_state_takes() {
    let err = TimeWait.on(RcvSynAck).unwrap_err();
    assert_eq!(
        err.to_string(),
        "event RcvSynAck is not valid in state TIME_WAIT; \
         it takes RcvFin, RcvFinAck, RcvRst or TimeWaitTimeout"
    );
}

// §3.10.7.4: only the 2MSL timer and a RST lead out of TIME_WAIT.
#[test]
fn only_the_timer_and_a_rst_leave_time_wait() {
    let exits: Vec<Event> = machine::transitions()
        .filter(|&(from, _, step)| from == TimeWait && step.next != TimeWait)
        .map(|(_, event, _)| event)
        .collect();
    assert_eq!(exits, [RcvRst, TimeWaitTimeout]);
}

// TIME_WAIT is entered only from FIN-WAIT-1, FIN-WAIT-2 and CLOSING: states
// only the side that sent a FIN before receiving one can be in.
#[test]
fn time_wait_is_entered_only_from_the_active_closers_states() {
    let mut entries: Vec<TcpState> = machine::transitions()
        .filter(|&(from, _, step)| from != TimeWait && step.next == TimeWait)
        .map(|(from, _, _)| from)
        .collect();
    entries.dedup();
    assert_eq!(entries, [FinWait1, FinWait2, Closing]);
}

// Note 1 of the §3.3.2 diagram: a passive open returns to LISTEN on RST.
#[test]
fn a_machine_opened_passively_returns_to_listen_on_rst_in_syn_received() {
    let mut machine = Machine::new();
    for event in [PassiveOpen, RcvSyn] {
        machine.on(event).unwrap();
    }
    assert_eq!(machine.state(), SynReceived);
    let step = machine.on(RcvRst).unwrap();
    assert_eq!(
        step,
        Step {
            next: Listen,
            send: NONE,
            time_wait: Unchanged
        }
    );
    assert_eq!(machine.state(), Listen);
    // And it can take the next SYN as any listener would.
    machine.on(RcvSyn).unwrap();
    assert_eq!(machine.state(), SynReceived);
}

// A listener that sends becomes an active open: a RST then closes it.
#[test]
fn a_send_on_a_listener_makes_the_open_active() {
    let mut machine = Machine::new();
    for event in [PassiveOpen, Send, RcvSyn] {
        machine.on(event).unwrap();
    }
    assert_eq!(machine.opened(), Some(Open::Active));
    machine.on(RcvRst).unwrap();
    assert_eq!(machine.state(), Closed);
}

// The machine follows the table on every row but the note-1 one.
#[test]
fn the_machine_agrees_with_the_table_everywhere_else() {
    for (state, event, step) in machine::transitions() {
        for opened in [Open::Active, Open::Passive] {
            let mut machine = machine_in(state, opened);
            let got = machine.on(event).unwrap();
            let note_1 = state == SynReceived && event == RcvRst && opened == Open::Passive;
            if note_1 {
                assert_eq!(got.next, Listen);
            } else {
                assert_eq!(got, step, "({state}, {event}) opened {opened:?}");
            }
            assert_eq!(machine.state(), got.next);
        }
    }
}

// A rejected event leaves the machine as it was.
#[test]
fn a_rejected_event_leaves_the_machine_unchanged() {
    let mut machine = Machine::established(Open::Active);
    let before = machine;
    assert!(machine.on(PassiveOpen).is_err());
    assert!(machine.on(TimeWaitTimeout).is_err());
    assert_eq!(machine, before);
}

/// Drives a fresh machine into `state` along RFC paths, opened as `opened`.
fn machine_in(state: TcpState, opened: Open) -> Machine {
    let open = match opened {
        Open::Active => ActiveOpen,
        Open::Passive => PassiveOpen,
    };
    let handshake = match opened {
        Open::Active => RcvSynAck,
        Open::Passive => RcvSyn,
    };
    let path: Vec<Event> = match state {
        Closed => vec![],
        Listen => vec![PassiveOpen],
        SynSent => vec![ActiveOpen],
        SynReceived => vec![open, RcvSyn],
        Established => vec![open, handshake, RcvAck],
        FinWait1 => vec![open, handshake, RcvAck, Close],
        FinWait2 => vec![open, handshake, RcvAck, Close, RcvAck],
        CloseWait => vec![open, handshake, RcvAck, RcvFin],
        Closing => vec![open, handshake, RcvAck, Close, RcvFin],
        LastAck => vec![open, handshake, RcvAck, RcvFin, Close],
        TimeWait => vec![open, handshake, RcvAck, Close, RcvFinAck],
    };
    let mut machine = Machine::new();
    for event in path {
        machine.on(event).unwrap();
    }
    assert_eq!(machine.state(), state);
    if matches!(state, SynReceived) {
        assert_eq!(machine.opened(), Some(opened));
    }
    machine
}
