//! What goes into the machine ([`Event`]) and what comes out ([`Step`],
//! [`InvalidTransition`]).

use std::fmt;

use crate::TcpState;

/// Something that happens to a connection: a user call (RFC 9293 §3.10.1 to
/// §3.10.5), the arrival of a segment (§3.10.7) or the TIME-WAIT timer
/// (§3.10.8).
///
/// A `Rcv*` event stands for a segment that passed the acceptability test of
/// §3.10.7.4 ("first, check sequence number"): sequence numbers are not
/// modelled, so the event says what the segment means to this connection.
///
/// ```
/// use timewait_core::machine::Event;
///
/// assert_eq!(Event::ALL.len(), 12);
/// assert_eq!(Event::RcvFinAck.to_string(), "RcvFinAck");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Event {
    /// The user's active OPEN (`connect`): send a SYN (§3.10.1).
    ActiveOpen,
    /// The user's passive OPEN (`listen`): wait for a SYN (§3.10.1).
    PassiveOpen,
    /// The user's SEND (§3.10.2). In LISTEN it turns the connection into an
    /// active one and sends a SYN.
    Send,
    /// The user's CLOSE (§3.10.4): nothing more to send, so a FIN follows
    /// (`shutdown(SHUT_WR)`, or `close` on a socket that was not shut down).
    Close,
    /// The user's ABORT (§3.10.5): drop the connection, with a RST where the
    /// peer still holds state (a zero `SO_LINGER` close).
    Abort,
    /// A SYN without ACK arrived: a connection request.
    RcvSyn,
    /// A SYN,ACK arrived that acknowledges our SYN.
    RcvSynAck,
    /// An ACK arrived, without SYN, FIN or RST, that acknowledges everything
    /// sent so far: our SYN in SYN-RECEIVED, our FIN in FIN-WAIT-1, CLOSING
    /// and LAST-ACK, data elsewhere.
    RcvAck,
    /// A FIN arrived that does not acknowledge our FIN: we sent none yet, or
    /// the peer sent its FIN before ours reached it.
    RcvFin,
    /// A FIN arrived whose ACK also covers our FIN. In FIN-WAIT-2 and
    /// TIME-WAIT, where our FIN is already acknowledged, it means the same as
    /// [`Event::RcvFin`].
    RcvFinAck,
    /// An acceptable RST arrived (§3.5.3).
    RcvRst,
    /// The 2×MSL TIME-WAIT timer expired (§3.10.8).
    TimeWaitTimeout,
}

impl Event {
    /// Every event, user calls first, then segments, then the timer.
    pub const ALL: [Event; 12] = [
        Event::ActiveOpen,
        Event::PassiveOpen,
        Event::Send,
        Event::Close,
        Event::Abort,
        Event::RcvSyn,
        Event::RcvSynAck,
        Event::RcvAck,
        Event::RcvFin,
        Event::RcvFinAck,
        Event::RcvRst,
        Event::TimeWaitTimeout,
    ];

    /// The variant's name, as [`Display`](fmt::Display) prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Event::ActiveOpen => "ActiveOpen",
            Event::PassiveOpen => "PassiveOpen",
            Event::Send => "Send",
            Event::Close => "Close",
            Event::Abort => "Abort",
            Event::RcvSyn => "RcvSyn",
            Event::RcvSynAck => "RcvSynAck",
            Event::RcvAck => "RcvAck",
            Event::RcvFin => "RcvFin",
            Event::RcvFinAck => "RcvFinAck",
            Event::RcvRst => "RcvRst",
            Event::TimeWaitTimeout => "TimeWaitTimeout",
        }
    }

    /// Whether this event is the arrival of a segment carrying FIN.
    pub const fn is_fin(self) -> bool {
        matches!(self, Event::RcvFin | Event::RcvFinAck)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The segment a transition sends, named by its control bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Segment {
    /// A connection request.
    Syn,
    /// A connection request that acknowledges the peer's.
    SynAck,
    /// An acknowledgment only (of a SYN, a FIN or data).
    Ack,
    /// Our FIN (it carries an ACK, as every segment after the first SYN does).
    Fin,
    /// A reset.
    Rst,
    /// The user's data, sent on a SEND in ESTABLISHED or CLOSE-WAIT.
    Data,
}

/// What a transition does to the TIME-WAIT timer.
///
/// Only TIME-WAIT has this timer: it starts on entry (§3.10.7.4, "eighth,
/// check the FIN bit"), restarts when the peer's FIN arrives again in
/// TIME-WAIT (same step), and stops when the state is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeWaitTimer {
    /// No change: the transition neither enters nor leaves TIME-WAIT.
    Unchanged,
    /// Entering TIME-WAIT: the 2×MSL timer starts now.
    Start,
    /// A retransmitted FIN in TIME-WAIT: the timer starts over from now.
    Restart,
    /// Leaving TIME-WAIT (timeout or RST): the timer is gone.
    Stop,
}

/// The outcome of one event: the next state, the segment to send and the
/// effect on the TIME-WAIT timer.
///
/// ```
/// use timewait_core::TcpState;
/// use timewait_core::machine::{Event, Segment, Step, TimeWaitTimer};
///
/// let step = TcpState::FinWait2.on(Event::RcvFin)?;
/// assert_eq!(
///     step,
///     Step {
///         next: TcpState::TimeWait,
///         send: Some(Segment::Ack),
///         time_wait: TimeWaitTimer::Start,
///     }
/// );
/// # Ok::<(), timewait_core::machine::InvalidTransition>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    /// The state after the event (it may be the same state).
    pub next: TcpState,
    /// The segment to send in response, if any.
    pub send: Option<Segment>,
    /// What happens to the TIME-WAIT timer.
    pub time_wait: TimeWaitTimer,
}

/// An event the state cannot take: a user call the RFC answers with an error
/// (such as CLOSE in TIME-WAIT, "connection closing"), a segment that can only
/// be a stray or old duplicate there, or the timer outside TIME-WAIT.
///
/// The machine is left as it was.
///
/// ```
/// use timewait_core::TcpState;
/// use timewait_core::machine::Event;
///
/// let err = TcpState::TimeWait.on(Event::RcvSynAck).unwrap_err();
/// assert_eq!(err.state, TcpState::TimeWait);
/// assert_eq!(err.event, Event::RcvSynAck);
/// assert!(err.to_string().starts_with("event RcvSynAck is not valid in state TIME_WAIT"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("event {event} is not valid in state {state}; it takes {}", Accepted(*.state))]
#[non_exhaustive]
pub struct InvalidTransition {
    /// The state the event arrived in.
    pub state: TcpState,
    /// The event that state cannot take.
    pub event: Event,
}

impl InvalidTransition {
    pub(crate) const fn new(state: TcpState, event: Event) -> Self {
        InvalidTransition { state, event }
    }
}

/// Prints the events a state takes, as `A, B or C`.
struct Accepted(TcpState);

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let taken: Vec<Event> = Event::ALL
            .into_iter()
            .filter(|&event| self.0.on(event).is_ok())
            .collect();
        for (i, event) in taken.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == taken.len() { " or " } else { ", " })?;
            }
            f.write_str(event.name())?;
        }
        Ok(())
    }
}
