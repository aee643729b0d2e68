//! The eleven connection states of RFC 9293 and the kernel's numeric codes for them.

use std::fmt;
use std::str::FromStr;

/// A TCP connection state, as named by RFC 9293 §3.3.2.
///
/// ```text
///                             +---------+ ---------\      active OPEN
///                             |  CLOSED |            \    -----------
///                             +---------+<---------\   \   create TCB
///                               |     ^              \   \  snd SYN
///                  passive OPEN |     |   CLOSE        \   \
///                  ------------ |     | ----------       \   \
///                   create TCB  |     | delete TCB         \   \
///                               V     |                      \   \
///           rcv RST (note 1)  +---------+            CLOSE    |    \
///        -------------------->|  LISTEN |          ---------- |     |
///       /                     +---------+          delete TCB |     |
///      /           rcv SYN      |     |     SEND              |     |
///     /           -----------   |     |    -------            |     V
/// +--------+      snd SYN,ACK  /       \   snd SYN          +--------+
/// |        |<-----------------           ------------------>|        |
/// |  SYN   |                    rcv SYN                     |  SYN   |
/// |  RCVD  |<-----------------------------------------------|  SENT  |
/// |        |                  snd SYN,ACK                   |        |
/// |        |------------------           -------------------|        |
/// +--------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +--------+
///    |         --------------   |     |   -----------
///    |                x         |     |     snd ACK
///    |                          V     V
///    |  CLOSE                 +---------+
///    | -------                |  ESTAB  |
///    | snd FIN                +---------+
///    |                 CLOSE    |     |    rcv FIN
///    V                -------   |     |    -------
/// +---------+         snd FIN  /       \   snd ACK         +---------+
/// |  FIN    |<----------------          ------------------>|  CLOSE  |
/// | WAIT-1  |------------------                            |   WAIT  |
/// +---------+          rcv FIN  \                          +---------+
///   | rcv ACK of FIN   -------   |                          CLOSE  |
///   | --------------   snd ACK   |                         ------- |
///   V        x                   V                         snd FIN V
/// +---------+               +---------+                    +---------+
/// |FINWAIT-2|               | CLOSING |                    | LAST-ACK|
/// +---------+               +---------+                    +---------+
///   |              rcv ACK of FIN |                 rcv ACK of FIN |
///   |  rcv FIN     -------------- |    Timeout=2MSL -------------- |
///   |  -------            x       V    ------------        x       V
///    \ snd ACK              +---------+delete TCB          +---------+
///      -------------------->|TIME-WAIT|------------------->| CLOSED  |
///                           +---------+                    +---------+
/// ```
///
/// (Note 1: a RST in SYN-RECEIVED returns to LISTEN only when the connection
/// began with a passive OPEN.)
///
/// [`Display`](fmt::Display) prints the Linux spelling (`TIME_WAIT`, as `ss`
/// and `/proc/net/tcp` documentation use); [`FromStr`] accepts that and the
/// RFC spelling (`TIME-WAIT`), in any case.
///
/// ```
/// use timewait_core::TcpState;
///
/// assert_eq!(TcpState::TimeWait.to_string(), "TIME_WAIT");
/// assert_eq!("fin-wait-1".parse::<TcpState>(), Ok(TcpState::FinWait1));
/// assert_eq!(TcpState::TimeWait.kernel_code(), 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// No connection (a fictional state: no TCB exists).
    Closed,
    /// Waiting for a connection request from any remote TCP.
    Listen,
    /// A SYN was sent; waiting for a matching connection request.
    SynSent,
    /// A SYN was received and a SYN was sent; waiting for the ACK of ours.
    SynReceived,
    /// An open connection: data flows both ways.
    Established,
    /// We closed first and wait for the ACK of our FIN or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed first; waiting for the local user to close.
    CloseWait,
    /// Both sides sent FIN before seeing the other's (simultaneous close);
    /// waiting for the ACK of ours.
    Closing,
    /// The peer closed first and we closed after; waiting for the ACK of our FIN.
    LastAck,
    /// We sent the first FIN (or closed simultaneously): waiting 2×MSL so that
    /// old segments die and the peer's last FIN can still be acknowledged.
    TimeWait,
}

impl TcpState {
    /// Every state, in the order of RFC 9293's list.
    pub const ALL: [TcpState; 11] = [
        TcpState::Closed,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
    ];

    /// The Linux spelling: `TIME_WAIT`, `SYN_RECV`, `FIN_WAIT1` and so on, as in
    /// the kernel's `tcp_states.h` and `ss` (lower-cased there).
    pub const fn linux_name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSE",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
        }
    }

    /// The RFC 9293 spelling: `TIME-WAIT`, `SYN-RECEIVED`, `FIN-WAIT-1` and so on.
    pub const fn rfc_name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynReceived => "SYN-RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST-ACK",
            TcpState::TimeWait => "TIME-WAIT",
        }
    }

    /// The code Linux uses for this state in `/proc/net/tcp` (`st`, in hex) and
    /// in sock_diag's `idiag_state` (`include/net/tcp_states.h`).
    pub const fn kernel_code(self) -> u8 {
        match self {
            TcpState::Established => 1,
            TcpState::SynSent => 2,
            TcpState::SynReceived => 3,
            TcpState::FinWait1 => 4,
            TcpState::FinWait2 => 5,
            TcpState::TimeWait => 6,
            TcpState::Closed => 7,
            TcpState::CloseWait => 8,
            TcpState::LastAck => 9,
            TcpState::Listen => 10,
            TcpState::Closing => 11,
        }
    }

    /// Whether the state is synchronized (RFC 9293 §3.5.2): both sides' initial
    /// sequence numbers are known. A RST in one of these ends the connection.
    pub const fn is_synchronized(self) -> bool {
        matches!(
            self,
            TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait
                | TcpState::Closing
                | TcpState::LastAck
                | TcpState::TimeWait
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.linux_name())
    }
}

/// The text given to [`TcpState::from_str`] names no TCP state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStateError {
    text: String,
}

impl ParseStateError {
    /// The text that did not parse.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ParseStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown tcp state {:?}: expected a Linux name such as TIME_WAIT or an RFC 9293 name such as TIME-WAIT",
            self.text
        )
    }
}

impl std::error::Error for ParseStateError {}

impl FromStr for TcpState {
    type Err = ParseStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Compare on a canonical form: upper case, no separators. Both spellings
        // (and `ss`'s lower-case ones such as `time-wait`, `syn-recv`) reduce to
        // one of the keys below.
        let canonical: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let state = match canonical.as_str() {
            "CLOSED" | "CLOSE" => TcpState::Closed,
            "LISTEN" => TcpState::Listen,
            "SYNSENT" => TcpState::SynSent,
            "SYNRECEIVED" | "SYNRECV" | "SYNRCVD" => TcpState::SynReceived,
            "ESTABLISHED" | "ESTAB" => TcpState::Established,
            "FINWAIT1" => TcpState::FinWait1,
            "FINWAIT2" => TcpState::FinWait2,
            "CLOSEWAIT" => TcpState::CloseWait,
            "CLOSING" => TcpState::Closing,
            "LASTACK" => TcpState::LastAck,
            "TIMEWAIT" => TcpState::TimeWait,
            _ => {
                return Err(ParseStateError { text: s.to_owned() });
            }
        };
        Ok(state)
    }
}

/// A socket state as the Linux kernel reports it: one of the RFC states, or one
/// of the kernel's own (`NEW_SYN_RECV`, `BOUND_INACTIVE`), or a code this crate
/// does not know, kept as it came.
///
/// ```
/// use timewait_core::{KernelState, TcpState};
///
/// assert_eq!(KernelState::from_code(6), KernelState::Tcp(TcpState::TimeWait));
/// assert_eq!(KernelState::from_code(12), KernelState::NewSynRecv);
/// assert_eq!(KernelState::from_code(0x7f), KernelState::Unknown(0x7f));
/// assert_eq!(KernelState::from_code(0x7f).to_string(), "UNKNOWN(0x7f)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KernelState {
    /// One of the eleven RFC 9293 states.
    Tcp(TcpState),
    /// `TCP_NEW_SYN_RECV` (12): a request socket for a SYN received on a
    /// listener, before the handshake completes (Linux 4.4+).
    NewSynRecv,
    /// `TCP_BOUND_INACTIVE` (13): bound but neither listening nor connected
    /// (Linux 6.5+).
    BoundInactive,
    /// A code this crate does not know.
    Unknown(u8),
}

impl KernelState {
    /// The state of a kernel code; never fails.
    pub const fn from_code(code: u8) -> Self {
        match code {
            1 => KernelState::Tcp(TcpState::Established),
            2 => KernelState::Tcp(TcpState::SynSent),
            3 => KernelState::Tcp(TcpState::SynReceived),
            4 => KernelState::Tcp(TcpState::FinWait1),
            5 => KernelState::Tcp(TcpState::FinWait2),
            6 => KernelState::Tcp(TcpState::TimeWait),
            7 => KernelState::Tcp(TcpState::Closed),
            8 => KernelState::Tcp(TcpState::CloseWait),
            9 => KernelState::Tcp(TcpState::LastAck),
            10 => KernelState::Tcp(TcpState::Listen),
            11 => KernelState::Tcp(TcpState::Closing),
            12 => KernelState::NewSynRecv,
            13 => KernelState::BoundInactive,
            other => KernelState::Unknown(other),
        }
    }

    /// The kernel code of this state.
    pub const fn code(self) -> u8 {
        match self {
            KernelState::Tcp(state) => state.kernel_code(),
            KernelState::NewSynRecv => 12,
            KernelState::BoundInactive => 13,
            KernelState::Unknown(code) => code,
        }
    }

    /// The RFC state, if this is one.
    pub const fn tcp_state(self) -> Option<TcpState> {
        match self {
            KernelState::Tcp(state) => Some(state),
            _ => None,
        }
    }
}

impl From<TcpState> for KernelState {
    fn from(state: TcpState) -> Self {
        KernelState::Tcp(state)
    }
}

impl fmt::Display for KernelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelState::Tcp(state) => state.fmt(f),
            KernelState::NewSynRecv => f.write_str("NEW_SYN_RECV"),
            KernelState::BoundInactive => f.write_str("BOUND_INACTIVE"),
            KernelState::Unknown(code) => write!(f, "UNKNOWN({code:#04x})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse_back_to_the_same_state_in_any_case() {
        for state in TcpState::ALL {
            assert_eq!(state.linux_name().parse(), Ok(state));
            assert_eq!(state.rfc_name().parse(), Ok(state));
            assert_eq!(state.rfc_name().to_lowercase().parse(), Ok(state));
            assert_eq!(state.to_string().parse(), Ok(state));
        }
    }

    #[test]
    fn ss_spellings_parse() {
        assert_eq!("time-wait".parse(), Ok(TcpState::TimeWait));
        assert_eq!("syn-recv".parse(), Ok(TcpState::SynReceived));
        assert_eq!("estab".parse(), Ok(TcpState::Established));
    }

    #[test]
    fn unknown_text_is_a_typed_error_quoting_the_text() {
        let err = "TIME_WAITING".parse::<TcpState>().unwrap_err();
        assert_eq!(err.text(), "TIME_WAITING");
        assert!(err.to_string().contains("\"TIME_WAITING\""));
        assert!("".parse::<TcpState>().is_err());
    }

    #[test]
    fn kernel_codes_round_trip_for_every_byte() {
        for code in 0..=u8::MAX {
            assert_eq!(KernelState::from_code(code).code(), code);
        }
        for state in TcpState::ALL {
            assert_eq!(
                KernelState::from_code(state.kernel_code()),
                KernelState::Tcp(state)
            );
        }
        assert_eq!(KernelState::from_code(0), KernelState::Unknown(0));
    }

    #[test]
    fn synchronized_states_are_those_after_the_handshake() {
        let synchronized: Vec<_> = TcpState::ALL
            .into_iter()
            .filter(|s| s.is_synchronized())
            .collect();
        assert_eq!(synchronized.len(), 7);
        assert!(!TcpState::SynReceived.is_synchronized());
    }
}
