//! The transition function, one match arm per row, each citing RFC 9293.

use super::event::{Event, InvalidTransition, Segment, Step, TimeWaitTimer};
use crate::TcpState;

impl TcpState {
    /// The transition RFC 9293 prescribes for `event` in this state: the next
    /// state, the segment to send and the effect on the TIME-WAIT timer.
    ///
    /// This is the whole table; [`transitions`] walks it.
    /// It has one exception, which a bare state cannot resolve: a RST in
    /// SYN-RECEIVED goes to CLOSED here, which is right for an active open,
    /// while a passive open returns to LISTEN (§3.10.7.4, note 1 of the
    /// diagram). [`Machine`](super::Machine) remembers how the connection was
    /// opened and applies that rule.
    ///
    /// # Errors
    ///
    /// [`InvalidTransition`] naming the state and the event when the state
    /// cannot take the event (see the [module documentation](super) for what
    /// is rejected and why). Never panics.
    ///
    /// ```
    /// use timewait_core::TcpState;
    /// use timewait_core::machine::{Event, Segment};
    ///
    /// // The active closer: FIN-WAIT-1, then the peer's FIN with the ACK of ours.
    /// let step = TcpState::Established.on(Event::Close)?;
    /// assert_eq!((step.next, step.send), (TcpState::FinWait1, Some(Segment::Fin)));
    /// let step = step.next.on(Event::RcvFinAck)?;
    /// assert_eq!((step.next, step.send), (TcpState::TimeWait, Some(Segment::Ack)));
    ///
    /// assert!(TcpState::TimeWait.on(Event::Close).is_err());
    /// # Ok::<(), timewait_core::machine::InvalidTransition>(())
    /// ```
    pub const fn on(self, event: Event) -> Result<Step, InvalidTransition> {
        use Event as E;
        use Segment as S;
        use TcpState as T;

        let (next, send) = match (self, event) {
            // CLOSED: no TCB exists; only an OPEN creates one (§3.10.1).
            // Diagram: "passive OPEN / create TCB" and "active OPEN / snd SYN".
            (T::Closed, E::PassiveOpen) => (T::Listen, None),
            (T::Closed, E::ActiveOpen) => (T::SynSent, Some(S::Syn)),

            // LISTEN.
            // §3.10.1 OPEN, LISTEN: an active OPEN turns the connection active.
            (T::Listen, E::ActiveOpen) => (T::SynSent, Some(S::Syn)),
            // Diagram "SEND / snd SYN"; §3.10.2 SEND, LISTEN.
            (T::Listen, E::Send) => (T::SynSent, Some(S::Syn)),
            // Diagram "CLOSE / delete TCB"; §3.10.4 CLOSE, LISTEN.
            (T::Listen, E::Close) => (T::Closed, None),
            // §3.10.5 ABORT, LISTEN: delete the TCB, nothing to reset.
            (T::Listen, E::Abort) => (T::Closed, None),
            // Diagram "rcv SYN / snd SYN,ACK"; §3.10.7.2 "third, check for a SYN".
            (T::Listen, E::RcvSyn) => (T::SynReceived, Some(S::SynAck)),

            // SYN-SENT.
            // §3.10.2 SEND, SYN-SENT: data is queued until ESTABLISHED.
            (T::SynSent, E::Send) => (T::SynSent, None),
            // Diagram "CLOSE / delete TCB"; §3.10.4 CLOSE, SYN-SENT.
            (T::SynSent, E::Close) => (T::Closed, None),
            // §3.10.5 ABORT, SYN-SENT: the peer holds no state, no RST.
            (T::SynSent, E::Abort) => (T::Closed, None),
            // Simultaneous open. Diagram "rcv SYN / snd SYN,ACK"; §3.10.7.3
            // "fourth, check the SYN bit"; §3.5 Figure 7.
            (T::SynSent, E::RcvSyn) => (T::SynReceived, Some(S::SynAck)),
            // Diagram "rcv SYN,ACK / snd ACK"; §3.10.7.3 "fourth, check the SYN bit".
            (T::SynSent, E::RcvSynAck) => (T::Established, Some(S::Ack)),
            // §3.10.7.3 "second, check the RST bit": connection refused.
            (T::SynSent, E::RcvRst) => (T::Closed, None),

            // SYN-RECEIVED.
            // §3.10.2 SEND, SYN-RECEIVED: data is queued until ESTABLISHED.
            (T::SynReceived, E::Send) => (T::SynReceived, None),
            // Diagram "CLOSE / snd FIN"; §3.10.4 CLOSE, SYN-RECEIVED.
            (T::SynReceived, E::Close) => (T::FinWait1, Some(S::Fin)),
            // §3.10.5 ABORT, SYN-RECEIVED: send a reset.
            (T::SynReceived, E::Abort) => (T::Closed, Some(S::Rst)),
            // Simultaneous open, the peer's SYN,ACK acknowledges our SYN:
            // §3.5 Figure 7, line 6.
            (T::SynReceived, E::RcvSynAck) => (T::Established, None),
            // Diagram "rcv ACK of SYN"; §3.10.7.4 "fifth, check the ACK field".
            (T::SynReceived, E::RcvAck) => (T::Established, None),
            // The FIN's ACK completes the handshake, then the FIN is taken as
            // in ESTABLISHED: §3.10.7.4 "fifth" then "eighth, check the FIN bit".
            (T::SynReceived, E::RcvFin) => (T::CloseWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit", active-open case (note 1
            // of the diagram: a passive open returns to LISTEN; see `Machine`).
            (T::SynReceived, E::RcvRst) => (T::Closed, None),

            // ESTABLISHED.
            // §3.10.2 SEND, ESTABLISHED: segmentize and send.
            (T::Established, E::Send) => (T::Established, Some(S::Data)),
            // Diagram "CLOSE / snd FIN"; §3.10.4 CLOSE, ESTABLISHED.
            (T::Established, E::Close) => (T::FinWait1, Some(S::Fin)),
            // §3.10.5 ABORT, ESTABLISHED: send a reset.
            (T::Established, E::Abort) => (T::Closed, Some(S::Rst)),
            // §3.10.7.4 "fifth, check the ACK field": an ACK of data changes
            // nothing about the state.
            (T::Established, E::RcvAck) => (T::Established, None),
            // Diagram "rcv FIN / snd ACK"; §3.10.7.4 "eighth, check the FIN bit".
            (T::Established, E::RcvFin) => (T::CloseWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit": connection reset.
            (T::Established, E::RcvRst) => (T::Closed, None),

            // FIN-WAIT-1: we closed first.
            // §3.10.5 ABORT, FIN-WAIT-1: send a reset.
            (T::FinWait1, E::Abort) => (T::Closed, Some(S::Rst)),
            // Diagram "rcv ACK of FIN"; §3.10.7.4 "fifth, check the ACK field".
            (T::FinWait1, E::RcvAck) => (T::FinWait2, None),
            // Simultaneous close, the FINs crossed. Diagram "rcv FIN / snd ACK";
            // §3.10.7.4 "eighth, check the FIN bit"; §3.6 Figure 13.
            (T::FinWait1, E::RcvFin) => (T::Closing, Some(S::Ack)),
            // The peer's FIN acknowledges ours: straight to TIME-WAIT.
            // §3.10.7.4 "eighth, check the FIN bit", FIN-WAIT-1.
            (T::FinWait1, E::RcvFinAck) => (T::TimeWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit".
            (T::FinWait1, E::RcvRst) => (T::Closed, None),

            // FIN-WAIT-2: our FIN is acknowledged; the peer may still send.
            // §3.10.5 ABORT, FIN-WAIT-2: send a reset.
            (T::FinWait2, E::Abort) => (T::Closed, Some(S::Rst)),
            // §3.10.7.4 "fifth, check the ACK field": ACKs of the peer's data
            // stream change nothing.
            (T::FinWait2, E::RcvAck) => (T::FinWait2, None),
            // Diagram "rcv FIN / snd ACK"; §3.10.7.4 "eighth, check the FIN bit".
            // Any FIN here acknowledges ours, so both FIN events are the same.
            (T::FinWait2, E::RcvFin | E::RcvFinAck) => (T::TimeWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit".
            (T::FinWait2, E::RcvRst) => (T::Closed, None),

            // CLOSE-WAIT: the peer closed first; we may still send.
            // §3.10.2 SEND, CLOSE-WAIT: segmentize and send.
            (T::CloseWait, E::Send) => (T::CloseWait, Some(S::Data)),
            // Diagram "CLOSE / snd FIN"; §3.10.4 CLOSE, CLOSE-WAIT.
            (T::CloseWait, E::Close) => (T::LastAck, Some(S::Fin)),
            // §3.10.5 ABORT, CLOSE-WAIT: send a reset.
            (T::CloseWait, E::Abort) => (T::Closed, Some(S::Rst)),
            // §3.10.7.4 "fifth, check the ACK field": as in ESTABLISHED.
            (T::CloseWait, E::RcvAck) => (T::CloseWait, None),
            // A retransmitted FIN: acknowledge it and stay. §3.10.7.4 "eighth,
            // check the FIN bit": "Remain in the CLOSE-WAIT state".
            (T::CloseWait, E::RcvFin) => (T::CloseWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit".
            (T::CloseWait, E::RcvRst) => (T::Closed, None),

            // CLOSING: simultaneous close, waiting for the ACK of our FIN.
            // §3.10.5 ABORT, CLOSING: delete the TCB without a reset.
            (T::Closing, E::Abort) => (T::Closed, None),
            // Diagram "rcv ACK of FIN"; §3.10.7.4 "fifth, check the ACK field".
            (T::Closing, E::RcvAck) => (T::TimeWait, None),
            // The peer's FIN again, not yet covering ours: acknowledge it and
            // stay (§3.10.7.4 "eighth": "Remain in the CLOSING state").
            (T::Closing, E::RcvFin) => (T::Closing, Some(S::Ack)),
            // The peer's FIN again, now acknowledging ours: the ACK moves us to
            // TIME-WAIT (§3.10.7.4 "fifth"), the FIN is acknowledged ("eighth").
            (T::Closing, E::RcvFinAck) => (T::TimeWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit".
            (T::Closing, E::RcvRst) => (T::Closed, None),

            // LAST-ACK: the peer closed first, we closed after.
            // §3.10.5 ABORT, LAST-ACK: delete the TCB without a reset.
            (T::LastAck, E::Abort) => (T::Closed, None),
            // Diagram "rcv ACK of FIN"; §3.10.7.4 "fifth, check the ACK field".
            (T::LastAck, E::RcvAck) => (T::Closed, None),
            // The peer's FIN again, not yet covering ours: acknowledge, stay
            // (§3.10.7.4 "eighth": "Remain in the LAST-ACK state").
            (T::LastAck, E::RcvFin) => (T::LastAck, Some(S::Ack)),
            // The peer's FIN again, now acknowledging ours: the ACK closes the
            // connection before the FIN is looked at (§3.10.7.4 "fifth").
            (T::LastAck, E::RcvFinAck) => (T::Closed, None),
            // §3.10.7.4 "second, check the RST bit".
            (T::LastAck, E::RcvRst) => (T::Closed, None),

            // TIME-WAIT: the active closer waits 2×MSL.
            // The peer's FIN again (our last ACK was lost): acknowledge it and
            // restart the timer (§3.10.7.4 "eighth, check the FIN bit").
            (T::TimeWait, E::RcvFin | E::RcvFinAck) => (T::TimeWait, Some(S::Ack)),
            // §3.10.7.4 "second, check the RST bit": a RST ends TIME-WAIT. This
            // is the TIME-WAIT assassination of RFC 1337; see the module docs.
            (T::TimeWait, E::RcvRst) => (T::Closed, None),
            // Diagram "Timeout=2MSL / delete TCB"; §3.10.8 "Time-Wait Timeout".
            (T::TimeWait, E::TimeWaitTimeout) => (T::Closed, None),

            _ => return Err(InvalidTransition::new(self, event)),
        };
        Ok(Step {
            next,
            send,
            time_wait: timer_effect(self, next),
        })
    }
}

/// The timer follows from where the transition starts and ends: the only rows
/// that stay in TIME-WAIT are the retransmitted FINs, which restart it.
const fn timer_effect(from: TcpState, next: TcpState) -> TimeWaitTimer {
    let was = matches!(from, TcpState::TimeWait);
    let is = matches!(next, TcpState::TimeWait);
    match (was, is) {
        (false, true) => TimeWaitTimer::Start,
        (true, true) => TimeWaitTimer::Restart,
        (true, false) => TimeWaitTimer::Stop,
        (false, false) => TimeWaitTimer::Unchanged,
    }
}

/// Every row of the table: each `(state, event)` pair the state can take, with
/// its [`Step`], in the order of [`TcpState::ALL`] then [`Event::ALL`].
///
/// The rows come from [`TcpState::on`], so the table and the function cannot
/// disagree.
///
/// ```
/// use timewait_core::TcpState;
/// use timewait_core::machine::{self, Event};
///
/// // Only the timer and a RST lead out of TIME-WAIT.
/// let exits: Vec<Event> = machine::transitions()
///     .filter(|(from, _, step)| *from == TcpState::TimeWait && step.next != TcpState::TimeWait)
///     .map(|(_, event, _)| event)
///     .collect();
/// assert_eq!(exits, [Event::RcvRst, Event::TimeWaitTimeout]);
/// ```
pub fn transitions() -> impl Iterator<Item = (TcpState, Event, Step)> {
    TcpState::ALL.into_iter().flat_map(|state| {
        Event::ALL
            .into_iter()
            .filter_map(move |event| Some((state, event, state.on(event).ok()?)))
    })
}
