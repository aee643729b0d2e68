//! Netlink sock_diag: the census's primary source, the interface `ss` uses.
//!
//! One `SOCK_DIAG_BY_FAMILY` dump request per address family carries an
//! `inet_diag_req_v2` whose `idiag_states` mask makes the kernel skip sockets
//! in other states, so a census of TIME_WAIT never copies the rest. The reply
//! is a series of datagrams of netlink messages, each an `inet_diag_msg`,
//! ended by `NLMSG_DONE` (`include/uapi/linux/inet_diag.h`).
//!
//! The serialisation and the parser are written here because the crates that
//! parse these replies drop `idiag_expires`, the time a TIME_WAIT entry has
//! left. The parser is pure, reads only through `get`, and reports truncated
//! or foreign input as a [`SockDiagError`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::socket::{SocketEntry, Timer};
use crate::state::KernelState;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// The size of `struct inet_diag_msg`.
const INET_DIAG_MSG_LEN: usize = 72;
/// The size of a dump request: `nlmsghdr` and `inet_diag_req_v2`.
pub const REQUEST_LEN: usize = NLMSG_HDRLEN + 56;
/// Room for the largest datagram a dump sends (the kernel caps them near 32 KiB).
const RECV_BUFFER: usize = 64 * 1024;

/// The address family of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// `AF_INET`.
    V4,
    /// `AF_INET6` (includes dual-stack sockets with IPv4-mapped addresses).
    V6,
}

/// A sock_diag dump failed, or its reply is not what the kernel sends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SockDiagError {
    /// The netlink socket could not be opened (no `CONFIG_INET_DIAG`, or a
    /// sandbox that forbids netlink).
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}; use the /proc/net/tcp source")]
    Open(#[source] io::Error),
    /// The request could not be sent.
    #[error("cannot send the sock_diag request: {0}")]
    Send(#[source] io::Error),
    /// The reply could not be received.
    #[error("cannot receive the sock_diag reply: {0}")]
    Recv(#[source] io::Error),
    /// The kernel answered with an error (`NLMSG_ERROR`, or a negative
    /// `NLMSG_DONE`); `ENOENT` means `tcp_diag` is not available.
    #[error("the kernel refused the sock_diag dump: {}; load the tcp_diag module or use the /proc/net/tcp source", io::Error::from_raw_os_error(*.errno))]
    Kernel {
        /// The positive errno.
        errno: i32,
    },
    /// The kernel dropped messages (`NLMSG_OVERRUN`).
    #[error("the kernel dropped sock_diag messages (overrun); run the census again")]
    Overrun,
    /// A datagram was larger than the receive buffer.
    #[error("a sock_diag datagram of {size} bytes did not fit the {RECV_BUFFER}-byte buffer")]
    DatagramTooLarge {
        /// The datagram's size.
        size: usize,
    },
    /// The kernel closed the dump without `NLMSG_DONE`.
    #[error("the sock_diag reply ended without NLMSG_DONE")]
    Unfinished,
    /// A message is cut short.
    #[error("sock_diag message at byte {offset} needs {needed} bytes, {available} remain")]
    Truncated {
        /// Where the message starts in the datagram.
        offset: usize,
        /// The bytes it needs.
        needed: usize,
        /// The bytes left in the datagram.
        available: usize,
    },
    /// A message header gives a length shorter than the header itself.
    #[error("sock_diag message at byte {offset} has an impossible length {length}")]
    BadLength {
        /// Where the message starts.
        offset: usize,
        /// Its `nlmsg_len`.
        length: u32,
    },
    /// A message of a type a dump does not send.
    #[error("sock_diag message at byte {offset} has unexpected type {kind}")]
    UnexpectedType {
        /// Where the message starts.
        offset: usize,
        /// Its `nlmsg_type`.
        kind: u16,
    },
    /// A socket of an address family other than IPv4 and IPv6.
    #[error(
        "sock_diag message at byte {offset} has address family {family}, not AF_INET or AF_INET6"
    )]
    UnknownFamily {
        /// Where the message starts.
        offset: usize,
        /// Its `idiag_family`.
        family: u8,
    },
}

/// The bytes of a `SOCK_DIAG_BY_FAMILY` dump request for the TCP sockets of
/// `family` whose state bit is set in `states` (bit *n* selects code *n*).
///
/// ```
/// use timewait_core::sys::{sock_diag_request, IpFamily};
///
/// let request = sock_diag_request(IpFamily::V4, 1 << 6, 1);
/// assert_eq!(u32::from_ne_bytes(request[..4].try_into()?), request.len() as u32);
/// assert_eq!(request[16], 2); // AF_INET
/// # Ok::<(), std::array::TryFromSliceError>(())
/// ```
pub fn sock_diag_request(family: IpFamily, states: u32, seq: u32) -> [u8; REQUEST_LEN] {
    let mut out = [0u8; REQUEST_LEN];
    let fields: [&[u8]; 8] = [
        &(REQUEST_LEN as u32).to_ne_bytes(),
        &SOCK_DIAG_BY_FAMILY.to_ne_bytes(),
        &(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes(),
        &seq.to_ne_bytes(),
        &0u32.to_ne_bytes(), // nlmsg_pid: the kernel
        &[
            match family {
                IpFamily::V4 => AF_INET,
                IpFamily::V6 => AF_INET6,
            },
            IPPROTO_TCP,
            0, // idiag_ext: no extensions
            0, // pad
        ],
        &states.to_ne_bytes(),
        &[0u8; 48], // inet_diag_sockid: a dump matches any
    ];
    let mut at = 0;
    for field in fields {
        if let Some(slot) = out.get_mut(at..at + field.len()) {
            slot.copy_from_slice(field);
        }
        at += field.len();
    }
    out
}

/// One message of a dump reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SockDiagMessage {
    /// A socket.
    Socket(SocketEntry),
    /// `NLMSG_DONE`: the dump is complete.
    Done,
}

/// Parses one datagram of a dump reply: an iterator over its messages that
/// ends after the first error. Never panics, whatever the bytes.
///
/// ```
/// use timewait_core::sys::{parse_sock_diag_reply, SockDiagMessage};
///
/// let mut done = [0u8; 20];
/// done[..4].copy_from_slice(&20u32.to_ne_bytes());
/// done[4..6].copy_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
/// let messages: Vec<_> = parse_sock_diag_reply(&done).collect::<Result<_, _>>()?;
/// assert_eq!(messages, [SockDiagMessage::Done]);
/// assert!(parse_sock_diag_reply(&done[..10]).next().unwrap().is_err());
/// # Ok::<(), timewait_core::sys::SockDiagError>(())
/// ```
pub fn parse_sock_diag_reply(datagram: &[u8]) -> SockDiagReply<'_> {
    SockDiagReply {
        datagram,
        offset: 0,
    }
}

/// The messages of one reply datagram: see [`parse_sock_diag_reply`].
#[derive(Debug, Clone)]
pub struct SockDiagReply<'a> {
    datagram: &'a [u8],
    offset: usize,
}

impl Iterator for SockDiagReply<'_> {
    type Item = Result<SockDiagMessage, SockDiagError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let offset = self.offset;
            let rest = self.datagram.get(offset..).filter(|r| !r.is_empty())?;
            let result = message(rest, offset);
            self.offset = match &result {
                Ok((_, next)) => offset.saturating_add(*next),
                Err(_) => self.datagram.len(),
            };
            match result {
                Ok((Some(message), _)) => return Some(Ok(message)),
                Ok((None, _)) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn truncated(offset: usize, needed: usize, rest: &[u8]) -> SockDiagError {
    SockDiagError::Truncated {
        offset,
        needed,
        available: rest.len(),
    }
}

/// The message at the start of `rest`, and the aligned length to skip.
fn message(rest: &[u8], offset: usize) -> Result<(Option<SockDiagMessage>, usize), SockDiagError> {
    let header = rest
        .get(..NLMSG_HDRLEN)
        .ok_or_else(|| truncated(offset, NLMSG_HDRLEN, rest))?;
    let length = array::<4>(header, 0).map_or(0, u32::from_ne_bytes);
    let kind = array::<2>(header, 4).map_or(0, u16::from_ne_bytes);
    let len = usize::try_from(length).unwrap_or(usize::MAX);
    if len < NLMSG_HDRLEN {
        return Err(SockDiagError::BadLength { offset, length });
    }
    let body = rest
        .get(NLMSG_HDRLEN..len)
        .ok_or_else(|| truncated(offset, len, rest))?;
    let next = len.saturating_add(3) & !3;
    let error_code = || array::<4>(body, 0).map(i32::from_ne_bytes);
    let parsed = match kind {
        NLMSG_NOOP => None,
        NLMSG_DONE => match error_code() {
            Some(code) if code < 0 => return Err(kernel_error(code)),
            _ => Some(SockDiagMessage::Done),
        },
        NLMSG_ERROR => match error_code() {
            Some(0) => None, // an acknowledgement
            Some(code) => return Err(kernel_error(code)),
            None => return Err(truncated(offset, NLMSG_HDRLEN + 4, rest)),
        },
        NLMSG_OVERRUN => return Err(SockDiagError::Overrun),
        SOCK_DIAG_BY_FAMILY => Some(SockDiagMessage::Socket(inet_diag_msg(body, offset, rest)?)),
        _ => return Err(SockDiagError::UnexpectedType { offset, kind }),
    };
    Ok((parsed, next))
}

fn kernel_error(code: i32) -> SockDiagError {
    SockDiagError::Kernel {
        errno: code.checked_neg().unwrap_or(i32::MAX),
    }
}

/// Parses `struct inet_diag_msg` (attributes after it are ignored).
fn inet_diag_msg(body: &[u8], offset: usize, rest: &[u8]) -> Result<SocketEntry, SockDiagError> {
    let too_short = || truncated(offset, NLMSG_HDRLEN + INET_DIAG_MSG_LEN, rest);
    let msg: [u8; INET_DIAG_MSG_LEN] = array(body, 0).ok_or_else(too_short)?;
    let [family, state, timer, _retransmits, ..] = msg;
    let be16 = |at| array::<2>(&msg, at).map_or(0, u16::from_be_bytes);
    let ne32 = |at| array::<4>(&msg, at).map_or(0, u32::from_ne_bytes);
    let address = |at| -> Result<IpAddr, SockDiagError> {
        let octets: [u8; 16] = array(&msg, at).unwrap_or_default();
        match family {
            AF_INET => {
                let v4: [u8; 4] = array(&octets, 0).unwrap_or_default();
                Ok(IpAddr::V4(Ipv4Addr::from(v4)))
            }
            AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()),
            _ => Err(SockDiagError::UnknownFamily { offset, family }),
        }
    };
    let remaining = Duration::from_millis(u64::from(ne32(52)));
    Ok(SocketEntry {
        local: SocketAddr::new(address(8)?, be16(4)),
        remote: SocketAddr::new(address(24)?, be16(6)),
        state: KernelState::from_code(state),
        timer: Timer::from_code(timer, remaining),
        uid: ne32(64),
        inode: u64::from(ne32(68)),
    })
}

/// An open `NETLINK_SOCK_DIAG` socket.
#[derive(Debug)]
pub(crate) struct SockDiag {
    socket: netlink_sys::Socket,
    seq: u32,
    buffer: Vec<u8>,
}

impl SockDiag {
    pub(crate) fn open() -> Result<SockDiag, SockDiagError> {
        let socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_SOCK_DIAG)
            .map_err(SockDiagError::Open)?;
        Ok(SockDiag {
            socket,
            seq: 0,
            buffer: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// Dumps the sockets of `family` in the `states` mask into `each`.
    pub(crate) fn dump(
        &mut self,
        family: IpFamily,
        states: u32,
        each: &mut dyn FnMut(SocketEntry),
    ) -> Result<(), SockDiagError> {
        self.seq = self.seq.wrapping_add(1);
        let request = sock_diag_request(family, states, self.seq);
        let kernel = netlink_sys::SocketAddr::new(0, 0);
        self.socket
            .send_to(&request, &kernel, 0)
            .map_err(SockDiagError::Send)?;
        loop {
            self.buffer.clear();
            let size = match self.socket.recv(&mut self.buffer, libc::MSG_TRUNC) {
                Ok(size) => size,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SockDiagError::Recv(e)),
            };
            if size > self.buffer.len() {
                return Err(SockDiagError::DatagramTooLarge { size });
            }
            if size == 0 {
                return Err(SockDiagError::Unfinished);
            }
            for message in parse_sock_diag_reply(&self.buffer) {
                match message? {
                    SockDiagMessage::Socket(entry) => each(entry),
                    SockDiagMessage::Done => return Ok(()),
                }
            }
        }
    }
}
