//! RFC 9293's connection state machine: an [`Event`] in, a [`Step`] out (the
//! next state, the segment to send, the effect on the TIME-WAIT timer).
//!
//! The diagram of RFC 9293 §3.3.2 is on [`TcpState`]. The table is
//! [`TcpState::on`], a pure function with one match arm per row, each citing
//! the section it comes from; [`transitions`] walks every row, and
//! [`Event::ALL`] with [`TcpState::ALL`] spans every pair. An event a state
//! cannot take is an [`InvalidTransition`] naming both, never a panic and
//! never a silent no-op. Nothing here traces: [`Step`] is `Debug` for callers
//! that do.
//!
//! # Why a [`Machine`] as well
//!
//! One rule needs memory the state does not hold. A RST in SYN-RECEIVED returns
//! to LISTEN when the connection began with a passive OPEN, and closes it when
//! it began with an active one (note 1 of the diagram; §3.10.7.4 "second,
//! check the RST bit"; §3.5 requires tracking the difference, MUST-11).
//! [`TcpState::on`] gives the active-open answer, CLOSED, and says so;
//! [`Machine`] is a state plus how it was [`Open`]ed and applies the passive
//! rule. Everything else is the table's.
//!
//! # What the table accepts
//!
//! Events are abstract: a `Rcv*` event is a segment that passed the sequence
//! number check of §3.10.7.4, and [`Event::RcvAck`] acknowledges everything
//! sent so far (the SYN or the FIN, where one is outstanding). Beyond the
//! diagram's arrows, the table has:
//!
//! - the abnormal transitions: simultaneous open (SYN-SENT takes a SYN, then
//!   SYN-RECEIVED a SYN,ACK, §3.5 Figure 7), simultaneous close (FIN-WAIT-1
//!   takes a FIN into CLOSING, §3.6 Figure 13), FIN-WAIT-1 straight to
//!   TIME-WAIT on a FIN that acknowledges ours, a RST in every state that has
//!   a peer (§3.10.7.3, §3.10.7.4), ABORT from every state a user holds
//!   (§3.10.5), SEND in LISTEN (§3.10.2) and CLOSE in LISTEN, SYN-SENT,
//!   SYN-RECEIVED and CLOSE-WAIT (§3.10.4);
//! - events that are legal but keep the state: an ACK of data in ESTABLISHED,
//!   FIN-WAIT-2 and CLOSE-WAIT; SEND in SYN-SENT and SYN-RECEIVED (the data is
//!   queued, nothing is sent) and in ESTABLISHED and CLOSE-WAIT (sends
//!   [`Segment::Data`]); a retransmitted FIN in CLOSE-WAIT, CLOSING and
//!   LAST-ACK (acknowledged) and in TIME-WAIT (acknowledged, and the timer
//!   restarts: [`TimeWaitTimer::Restart`]).
//!
//! It rejects:
//!
//! - user calls the RFC answers with an error: any call but OPEN in CLOSED
//!   ("connection does not exist"), OPEN on an existing connection ("connection
//!   already exists"), SEND or CLOSE once our FIN is sent ("connection
//!   closing");
//! - segments that in that state can only be strays or old duplicates, which
//!   the RFC answers at most with an ACK or a RST and no change of state: any
//!   segment in CLOSED, anything but a SYN in LISTEN, an ACK or FIN without SYN
//!   in SYN-SENT, a SYN or SYN,ACK in a synchronized state (RFC 5961's
//!   challenge ACK), an ACK in TIME-WAIT ("the only thing that can arrive in
//!   this state is a retransmission of the remote FIN");
//! - the TIME-WAIT timeout outside TIME-WAIT.
//!
//! A rejected event leaves everything as it was, so a caller mirroring a real
//! stack can log it and carry on.
//!
//! Two RFC rules are deliberately left out. ABORT in TIME-WAIT deletes the
//! TCB per §3.10.5, but no user holds a TIME-WAIT connection in practice
//! (Linux moves the user's socket to CLOSE and keeps a separate, ownerless
//! TIME-WAIT entry), so it is rejected: only the timer or a RST ends
//! TIME-WAIT. A new SYN that reopens a connection from TIME-WAIT (§3.6.1,
//! MAY-2; RFC 6191) starts a new incarnation, which a caller tracks as a new
//! connection; and a SYN in SYN-RECEIVED (§3.10.7.4 "fourth, check the SYN
//! bit") is rejected rather than modelled.
//!
//! # RST in TIME-WAIT
//!
//! §3.10.7.4 closes a TIME-WAIT connection on a RST, and so does this table.
//! RFC 1337 ("TIME-WAIT Assassination Hazards") shows the cost: an old or
//! forged RST cuts TIME-WAIT short, and a delayed segment of the old
//! connection can then corrupt a new one on the same four-tuple; its
//! recommended fix is to ignore RSTs in TIME-WAIT. Linux honours them by
//! default (`net.ipv4.tcp_rfc1337 = 0`); with 1 it ignores them as RFC 1337
//! recommends.
//!
//! ```
//! use timewait_core::TcpState;
//! use timewait_core::machine::{Event, Machine, Open, Segment};
//!
//! // A server: passive open, a SYN, then a RST before the handshake ends.
//! let mut server = Machine::new();
//! server.on(Event::PassiveOpen)?;
//! let step = server.on(Event::RcvSyn)?;
//! assert_eq!(step.send, Some(Segment::SynAck));
//! server.on(Event::RcvRst)?;
//! assert_eq!(server.state(), TcpState::Listen); // note 1: back to LISTEN
//! assert_eq!(server.opened(), Some(Open::Passive));
//! # Ok::<(), timewait_core::machine::InvalidTransition>(())
//! ```

mod event;
mod table;

pub use event::{Event, InvalidTransition, Segment, Step, TimeWaitTimer};
pub use table::transitions;

use crate::TcpState;

/// How a connection was opened (RFC 9293 §3.5, MUST-11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Open {
    /// By the local user's active OPEN (`connect`), or a SEND or active OPEN
    /// on a listening connection.
    Active,
    /// By a passive OPEN (`listen`): the peer's SYN started the handshake.
    Passive,
}

/// One connection's state and how it was opened: [`TcpState::on`] plus the
/// passive-open rule for a RST in SYN-RECEIVED (see the [module
/// documentation](self)).
///
/// ```
/// use timewait_core::TcpState;
/// use timewait_core::machine::{Event, Machine, Open};
///
/// // An active open refused after a simultaneous open: CLOSED, not LISTEN.
/// let mut client = Machine::new();
/// client.on(Event::ActiveOpen)?;
/// client.on(Event::RcvSyn)?;
/// client.on(Event::RcvRst)?;
/// assert_eq!(client.state(), TcpState::Closed);
/// assert_eq!(client.opened(), Some(Open::Active));
/// # Ok::<(), timewait_core::machine::InvalidTransition>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Machine {
    state: TcpState,
    opened: Option<Open>,
}

impl Machine {
    /// A machine in CLOSED that was never opened.
    pub const fn new() -> Self {
        Machine {
            state: TcpState::Closed,
            opened: None,
        }
    }

    /// A machine for a connection already ESTABLISHED (a socket returned by
    /// `connect` or `accept`), opened as `opened` says.
    pub const fn established(opened: Open) -> Self {
        Machine {
            state: TcpState::Established,
            opened: Some(opened),
        }
    }

    /// The current state.
    pub const fn state(&self) -> TcpState {
        self.state
    }

    /// How the connection was last opened; `None` before the first open.
    pub const fn opened(&self) -> Option<Open> {
        self.opened
    }

    /// Applies `event`: the table's [`Step`], except that a RST in
    /// SYN-RECEIVED after a passive open returns to LISTEN.
    ///
    /// # Errors
    ///
    /// [`InvalidTransition`] when the state cannot take the event; the machine
    /// is then unchanged.
    pub fn on(&mut self, event: Event) -> Result<Step, InvalidTransition> {
        let mut step = self.state.on(event)?;
        match (self.state, event) {
            // Note 1 of the §3.3.2 diagram; §3.10.7.4 "second, check the RST
            // bit", SYN-RECEIVED: "return this connection to LISTEN state".
            (TcpState::SynReceived, Event::RcvRst) if self.opened == Some(Open::Passive) => {
                step.next = TcpState::Listen;
            }
            (_, Event::PassiveOpen) => self.opened = Some(Open::Passive),
            // §3.10.1 and §3.10.2, LISTEN: "change the connection from passive
            // to active".
            (_, Event::ActiveOpen) | (TcpState::Listen, Event::Send) => {
                self.opened = Some(Open::Active);
            }
            _ => {}
        }
        self.state = step.next;
        Ok(step)
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}
