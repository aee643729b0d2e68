//! The kernel-input parsers against inputs built the way the kernel builds
//! them, then mangled.
//!
//! `sys_parsers_proptest.rs` feeds arbitrary bytes, which rarely get past a
//! parser's first check. Here the inputs are well formed by construction
//! (netlink messages with valid headers and random contents, socket table
//! lines with random fields), so the parsers' deeper paths run, and each is
//! checked against a model of what it must return; then the same inputs are
//! cut and corrupted, and the parsers must not panic. `PROPTEST_CASES` sets
//! the number of cases (CI asks for more).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;
use timewait_core::KernelState;
use timewait_core::budget::PortRange;
use timewait_core::sys::{
    ProcNetError, SockDiagError, SockDiagMessage, SocketEntry, TimerKind, USER_HZ_TICK,
    parse_ip_local_port_range, parse_ip_local_reserved_ports, parse_proc_net_tcp,
    parse_sock_diag_reply,
};

// ---------------------------------------------------------------------------
// What both socket sources report

/// The fields of one socket, as a model to compare the parsers with.
#[derive(Debug, Clone)]
struct Socket {
    v6: bool,
    local: [u8; 16],
    remote: [u8; 16],
    local_port: u16,
    remote_port: u16,
    state: u8,
    timer: u8,
    uid: u32,
    inode: u32,
}

fn socket() -> impl Strategy<Value = Socket> {
    (
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<(u16, u16)>(),
        prop_oneof![0u8..=13, any::<u8>()],
        prop_oneof![0u8..=4, any::<u8>()],
        any::<(u32, u32)>(),
    )
        .prop_map(
            |(v6, mut local, mut remote, (local_port, remote_port), state, timer, (uid, inode))| {
                // Now and then an IPv4-mapped IPv6 address, which the
                // parsers report as IPv4.
                if v6 && local[0] & 1 == 1 {
                    local[..12].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
                    remote[..12].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
                }
                Socket {
                    v6,
                    local,
                    remote,
                    local_port,
                    remote_port,
                    state,
                    timer,
                    uid,
                    inode,
                }
            },
        )
}

impl Socket {
    fn ip(&self, octets: [u8; 16]) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()
        } else {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        }
    }

    /// Checks a parsed entry against the model; `remaining` is the timer's
    /// time left as the source encodes it.
    fn check(&self, entry: &SocketEntry, remaining: Duration) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            entry.local,
            SocketAddr::new(self.ip(self.local), self.local_port)
        );
        prop_assert_eq!(
            entry.remote,
            SocketAddr::new(self.ip(self.remote), self.remote_port)
        );
        prop_assert_eq!(entry.state, KernelState::from_code(self.state));
        prop_assert_eq!(entry.state.code(), self.state);
        match (self.timer, entry.timer) {
            (0, None) => {}
            (code, Some(timer)) => {
                let kind = match code {
                    1 => TimerKind::Retransmit,
                    2 => TimerKind::KeepAlive,
                    3 => TimerKind::TimeWait,
                    4 => TimerKind::ZeroWindowProbe,
                    other => TimerKind::Other(other),
                };
                prop_assert_eq!(timer.kind, kind);
                prop_assert_eq!(timer.remaining, remaining);
            }
            (code, None) => prop_assert!(false, "timer code {} lost", code),
        }
        prop_assert_eq!(entry.uid, self.uid);
        prop_assert_eq!(entry.inode, u64::from(self.inode));
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// sock_diag replies

const NLMSG_HDRLEN: usize = 16;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// One netlink message of a dump reply, as the model sees it.
#[derive(Debug, Clone)]
enum Message {
    Socket {
        socket: Socket,
        expires_ms: u32,
        /// Attributes after `inet_diag_msg`, which the parser skips.
        attributes: Vec<u8>,
    },
    /// A socket of a family other than IPv4 and IPv6.
    ForeignSocket(u8),
    Done(Option<i32>),
    /// `NLMSG_ERROR` with its error code (0 is an acknowledgement).
    Error(i32),
    Noop,
    Overrun,
    /// A type a dump never sends.
    Unexpected(u16, Vec<u8>),
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        6 => (socket(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
            |(socket, expires_ms, attributes)| Message::Socket { socket, expires_ms, attributes }
        ),
        1 => any::<u8>()
            .prop_filter("not IPv4 or IPv6", |f| *f != AF_INET && *f != AF_INET6)
            .prop_map(Message::ForeignSocket),
        1 => proptest::option::of(any::<i32>()).prop_map(Message::Done),
        1 => prop_oneof![Just(0), any::<i32>()].prop_map(Message::Error),
        1 => Just(Message::Noop),
        1 => Just(Message::Overrun),
        1 => (5u16.., proptest::collection::vec(any::<u8>(), 0..16))
            .prop_filter("not SOCK_DIAG_BY_FAMILY", |(t, _)| *t != 20)
            .prop_map(|(t, body)| Message::Unexpected(t, body)),
    ]
}

fn inet_diag_msg(family: u8, socket: &Socket, expires_ms: u32) -> Vec<u8> {
    let mut msg = vec![0u8; 72];
    msg[0] = family;
    msg[1] = socket.state;
    msg[2] = socket.timer;
    msg[4..6].copy_from_slice(&socket.local_port.to_be_bytes());
    msg[6..8].copy_from_slice(&socket.remote_port.to_be_bytes());
    msg[8..24].copy_from_slice(&socket.local);
    msg[24..40].copy_from_slice(&socket.remote);
    msg[52..56].copy_from_slice(&expires_ms.to_ne_bytes());
    msg[64..68].copy_from_slice(&socket.uid.to_ne_bytes());
    msg[68..72].copy_from_slice(&socket.inode.to_ne_bytes());
    msg
}

impl Message {
    fn kind_and_body(&self) -> (u16, Vec<u8>) {
        match self {
            Message::Socket {
                socket,
                expires_ms,
                attributes,
            } => {
                let family = if socket.v6 { AF_INET6 } else { AF_INET };
                let mut body = inet_diag_msg(family, socket, *expires_ms);
                body.extend_from_slice(attributes);
                (20, body)
            }
            Message::ForeignSocket(family) => {
                let socket = Socket {
                    v6: false,
                    local: [0; 16],
                    remote: [0; 16],
                    local_port: 0,
                    remote_port: 0,
                    state: 1,
                    timer: 0,
                    uid: 0,
                    inode: 0,
                };
                (20, inet_diag_msg(*family, &socket, 0))
            }
            Message::Done(code) => (
                3,
                code.map(|c| c.to_ne_bytes().to_vec()).unwrap_or_default(),
            ),
            // The real error message carries the request's header after the
            // code; the parser reads only the code.
            Message::Error(code) => (2, [code.to_ne_bytes(), [0; 4]].concat()),
            Message::Noop => (1, Vec::new()),
            Message::Overrun => (4, Vec::new()),
            Message::Unexpected(kind, body) => (*kind, body.clone()),
        }
    }

    /// The message's bytes, padded to 4 as netlink aligns messages.
    fn encode(&self, out: &mut Vec<u8>) {
        let (kind, body) = self.kind_and_body();
        let len = u32::try_from(NLMSG_HDRLEN + body.len()).unwrap();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&[0; 10]); // flags, seq, pid
        out.extend_from_slice(&body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
}

/// What the parser must yield for `messages`: each message's item, skipping
/// the silent ones, up to and including the first error.
fn check_reply(
    messages: &[Message],
    parsed: &[Result<SockDiagMessage, SockDiagError>],
) -> Result<(), TestCaseError> {
    let mut parsed = parsed.iter();
    for message in messages {
        let expected_error = match message {
            Message::Noop | Message::Error(0) => continue,
            Message::Socket {
                socket, expires_ms, ..
            } => {
                let item = parsed.next();
                let Some(Ok(SockDiagMessage::Socket(entry))) = item else {
                    return Err(TestCaseError::fail(format!(
                        "expected a socket, got {item:?}"
                    )));
                };
                socket.check(entry, Duration::from_millis(u64::from(*expires_ms)))?;
                continue;
            }
            Message::Done(code) if code.is_none_or(|c| c >= 0) => {
                prop_assert!(matches!(parsed.next(), Some(Ok(SockDiagMessage::Done))));
                continue;
            }
            Message::Done(Some(code)) | Message::Error(code) => {
                let errno = code.checked_neg().unwrap_or(i32::MAX);
                matches!(parsed.next(), Some(Err(SockDiagError::Kernel { errno: e })) if *e == errno)
            }
            Message::ForeignSocket(family) => matches!(
                parsed.next(),
                Some(Err(SockDiagError::UnknownFamily { family: f, .. })) if f == family
            ),
            Message::Overrun => matches!(parsed.next(), Some(Err(SockDiagError::Overrun))),
            Message::Unexpected(kind, _) => matches!(
                parsed.next(),
                Some(Err(SockDiagError::UnexpectedType { kind: k, .. })) if k == kind
            ),
            Message::Done(None) => unreachable!("handled above"),
        };
        prop_assert!(expected_error, "wrong error for {:?}", message);
        // The iteration ends at the first error.
        prop_assert!(parsed.next().is_none());
        return Ok(());
    }
    prop_assert!(parsed.next().is_none(), "items after the last message");
    Ok(())
}

/// Replaces bytes of `bytes` at the given places.
fn corrupt(bytes: &mut [u8], edits: &[(usize, u8)]) {
    for &(at, byte) in edits {
        if !bytes.is_empty() {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
    }
}

proptest! {
    #[test]
    fn a_well_formed_sock_diag_reply_parses_to_exactly_its_messages(
        messages in proptest::collection::vec(message(), 0..12),
    ) {
        let mut datagram = Vec::new();
        for m in &messages {
            m.encode(&mut datagram);
        }
        let parsed: Vec<_> = parse_sock_diag_reply(&datagram).collect();
        check_reply(&messages, &parsed)?;
    }

    #[test]
    fn a_cut_or_corrupted_sock_diag_reply_never_panics_and_stops_at_its_first_error(
        messages in proptest::collection::vec(message(), 1..8),
        cut in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    ) {
        let mut datagram = Vec::new();
        for m in &messages {
            m.encode(&mut datagram);
        }
        datagram.truncate(cut.index(datagram.len() + 1));
        corrupt(&mut datagram, &edits);
        let parsed: Vec<_> = parse_sock_diag_reply(&datagram).collect();
        let errors = parsed.iter().filter(|r| r.is_err()).count();
        prop_assert!(errors <= 1);
        prop_assert!(errors == 0 || parsed.last().is_some_and(Result::is_err));
        // Each message takes at least a header: no more items than that.
        prop_assert!(parsed.len() <= datagram.len() / NLMSG_HDRLEN + 1);
    }
}

// ---------------------------------------------------------------------------
// /proc/net/tcp{,6}

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// An address as the kernel prints it: each 32-bit word of the address in
/// network order, printed as a native-endian hex number.
fn proc_address(v6: bool, octets: &[u8; 16]) -> String {
    let words = if v6 { 4 } else { 1 };
    octets
        .chunks_exact(4)
        .take(words)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

#[derive(Debug, Clone)]
struct Line {
    socket: Socket,
    slot: u32,
    when: u64,
    queues: (u32, u32),
    retransmits: u32,
    probes: u32,
    /// Columns after `inode`, which newer kernels print and the parser skips.
    extra: Vec<u32>,
}

fn line(v6: bool) -> impl Strategy<Value = Line> {
    (
        socket(),
        any::<u32>(),
        prop_oneof![0u64..100_000, any::<u64>()],
        any::<(u32, u32)>(),
        any::<(u32, u32)>(),
        proptest::collection::vec(any::<u32>(), 0..5),
    )
        .prop_map(
            move |(mut socket, slot, when, queues, (retransmits, probes), extra)| {
                socket.v6 = v6;
                Line {
                    socket,
                    slot,
                    when,
                    queues,
                    retransmits,
                    probes,
                    extra,
                }
            },
        )
}

impl Line {
    fn render(&self) -> String {
        let s = &self.socket;
        let mut text = format!(
            "{:4}: {}:{:04X} {}:{:04X} {:02X} {:08X}:{:08X} {:02X}:{:08X} {:08X} {:5} {:8} {}",
            self.slot,
            proc_address(s.v6, &s.local),
            s.local_port,
            proc_address(s.v6, &s.remote),
            s.remote_port,
            s.state,
            self.queues.0,
            self.queues.1,
            s.timer,
            self.when,
            self.retransmits,
            s.uid,
            self.probes,
            s.inode,
        );
        for column in &self.extra {
            text.push_str(&format!(" {column}"));
        }
        text.push('\n');
        text
    }

    /// `tm->when` in ticks of 10 ms, saturated.
    fn remaining(&self) -> Duration {
        USER_HZ_TICK.saturating_mul(u32::try_from(self.when).unwrap_or(u32::MAX))
    }
}

fn table() -> impl Strategy<Value = Vec<Line>> {
    any::<bool>().prop_flat_map(|v6| proptest::collection::vec(line(v6), 0..10))
}

fn render(lines: &[Line]) -> String {
    let mut text = HEADER.to_owned();
    for line in lines {
        text.push_str(&line.render());
    }
    text
}

proptest! {
    #[test]
    fn a_socket_table_as_the_kernel_prints_it_parses_to_exactly_its_sockets(lines in table()) {
        let text = render(&lines);
        let parsed: Vec<SocketEntry> = parse_proc_net_tcp(Cursor::new(text.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.len(), lines.len());
        for (line, entry) in lines.iter().zip(&parsed) {
            line.socket.check(entry, line.remaining())?;
        }
    }

    #[test]
    fn a_cut_or_corrupted_socket_table_never_panics_and_stops_at_its_first_error(
        lines in table(),
        cut in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    ) {
        let mut bytes = render(&lines).into_bytes();
        bytes.truncate(cut.index(bytes.len() + 1));
        corrupt(&mut bytes, &edits);
        let parsed: Vec<Result<SocketEntry, ProcNetError>> =
            parse_proc_net_tcp(Cursor::new(bytes)).collect();
        let errors = parsed.iter().filter(|r| r.is_err()).count();
        prop_assert!(errors <= 1);
        prop_assert!(errors == 0 || parsed.last().is_some_and(Result::is_err));
        prop_assert!(parsed.len() <= lines.len() + 1);
    }
}

// ---------------------------------------------------------------------------
// Sysctl files

proptest! {
    #[test]
    fn the_port_range_file_parses_to_its_two_ports_or_a_typed_error(
        low in any::<u16>(),
        high in any::<u16>(),
        gap in "[ \t]{1,3}",
    ) {
        let text = format!("{low}{gap}{high}\n");
        match (parse_ip_local_port_range(&text), PortRange::new(low, high)) {
            (Ok(parsed), Ok(range)) => prop_assert_eq!(parsed, range),
            (Err(error), Err(_)) => prop_assert!(!error.to_string().is_empty()),
            (parsed, range) => prop_assert!(false, "{:?} parsed as {:?}", range, parsed),
        }
    }

    #[test]
    fn the_reserved_ports_file_parses_to_exactly_its_ports(
        items in proptest::collection::vec((1u16..2000, 0u16..50, any::<bool>()), 0..8),
    ) {
        let text = items
            .iter()
            .map(|&(low, len, single)| {
                if single { low.to_string() } else { format!("{low}-{}", low + len) }
            })
            .collect::<Vec<_>>()
            .join(",");
        let reserved = parse_ip_local_reserved_ports(&format!("{text}\n"))
            .map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        for port in 1..2100u16 {
            let listed = items.iter().any(|&(low, len, single)| {
                let high = if single { low } else { low + len };
                (low..=high).contains(&port)
            });
            prop_assert_eq!(reserved.contains(port), listed, "port {}", port);
        }
    }
}
