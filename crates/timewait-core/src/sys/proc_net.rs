//! `/proc/net/tcp` and `/proc/net/tcp6`: the census's fallback source.
//!
//! Each line is one socket, as `net/ipv4/tcp_ipv4.c` and `net/ipv6/tcp_ipv6.c`
//! print them:
//!
//! ```text
//!   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//!    0: 0100007F:1F90 0100007F:A1B2 06 00000000:00000000 03:00001770 00000000     0        0 0 3 ...
//! ```
//!
//! Addresses are the raw network-order words printed as native-endian hex,
//! ports are host-order hex, `st` is the kernel state code, `tr` the pending
//! timer (3 is TIME_WAIT's) and `tm->when` the time left in clock ticks of
//! `USER_HZ`, which is 100 on every architecture Linux runs on today (10 ms
//! a tick). Reading these files walks every socket in text, so a census
//! uses them only when sock_diag is unavailable.

use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::socket::{SocketEntry, Timer};
use crate::state::KernelState;

// `/proc/net` is `/proc/self/net`: the network namespace of the process's
// main thread. A thread that entered another namespace with `setns(2)` sees
// its own only through `/proc/thread-self/net` (Linux 3.17+).

/// The IPv4 table, of the calling thread's network namespace.
pub const PROC_NET_TCP: &str = "/proc/thread-self/net/tcp";
/// The IPv6 table (dual-stack sockets show IPv4-mapped addresses here).
pub const PROC_NET_TCP6: &str = "/proc/thread-self/net/tcp6";

/// The length of a clock tick in `tm->when`: 1/`USER_HZ`, `USER_HZ` being 100.
pub const USER_HZ_TICK: Duration = Duration::from_millis(10);

/// A `/proc/net/tcp{,6}` text could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcNetError {
    /// Reading failed.
    #[error("cannot read the socket table: {0}")]
    Read(#[source] io::Error),
    /// The first line is not the table's header.
    #[error(
        "the socket table does not start with its \"sl local_address ...\" header, in {text:?}"
    )]
    Header {
        /// The first line, or an empty string for an empty input.
        text: String,
    },
    /// A socket line does not have the kernel's format.
    #[error("line {line} of the socket table: {reason}, in {text:?}")]
    Line {
        /// The line number, from 1 (the header).
        line: usize,
        /// The line.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Parses a `/proc/net/tcp` or `/proc/net/tcp6` text from any reader: an
/// iterator over its sockets. After the first error it ends.
///
/// Columns past `inode` are ignored, so the tables of newer kernels parse.
///
/// ```
/// use std::io::Cursor;
/// use std::time::Duration;
/// use timewait_core::sys::parse_proc_net_tcp;
/// use timewait_core::{KernelState, TcpState};
///
/// let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
///     0: 0100007F:1F90 0100007F:A1B2 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n";
/// let entries = parse_proc_net_tcp(Cursor::new(table)).collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(entries[0].local.to_string(), "127.0.0.1:8080");
/// assert_eq!(entries[0].state, KernelState::Tcp(TcpState::TimeWait));
/// assert_eq!(entries[0].time_wait_remaining(), Some(Duration::from_secs(60)));
/// # Ok::<(), timewait_core::sys::ProcNetError>(())
/// ```
pub fn parse_proc_net_tcp<R: BufRead>(reader: R) -> ProcNetTcp<R> {
    ProcNetTcp {
        reader,
        line: 0,
        buf: Vec::new(),
        done: false,
    }
}

/// The sockets of a `/proc/net/tcp{,6}` text: see [`parse_proc_net_tcp`].
#[derive(Debug)]
pub struct ProcNetTcp<R> {
    reader: R,
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> ProcNetTcp<R> {
    fn next_line(&mut self) -> Result<Option<&str>, ProcNetError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(ProcNetError::Read)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        match std::str::from_utf8(&self.buf) {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(ProcNetError::Line {
                line: self.line,
                text: String::from_utf8_lossy(&self.buf).into_owned(),
                reason: "not UTF-8 text",
            }),
        }
    }

    fn step(&mut self) -> Result<Option<SocketEntry>, ProcNetError> {
        if self.line == 0 {
            let header = self.next_line()?.unwrap_or("");
            if header.split_whitespace().next() != Some("sl") {
                return Err(ProcNetError::Header {
                    text: header.to_owned(),
                });
            }
        }
        loop {
            let line = self.line + 1;
            let Some(text) = self.next_line()? else {
                return Ok(None);
            };
            if text.trim().is_empty() {
                continue;
            }
            return parse_line(text)
                .map(Some)
                .map_err(|reason| ProcNetError::Line {
                    line,
                    text: text.trim_end().to_owned(),
                    reason,
                });
        }
    }
}

impl<R: BufRead> Iterator for ProcNetTcp<R> {
    type Item = Result<SocketEntry, ProcNetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

fn parse_line(text: &str) -> Result<SocketEntry, &'static str> {
    let mut fields = text.split_whitespace();
    let mut field = |what: &'static str| fields.next().ok_or(what);
    let slot = field("missing the slot number")?;
    if !slot.ends_with(':') {
        return Err("the first column is not a slot number such as \"0:\"");
    }
    let local = parse_endpoint(field("missing the local address")?)?;
    let remote = parse_endpoint(field("missing the remote address")?)?;
    let state = hex_u8(field("missing the state")?).ok_or("the state is not a hex byte")?;
    let _queues = field("missing the queues")?;
    let (timer, when) = field("missing the timer")?
        .split_once(':')
        .ok_or("the timer is not \"tr:when\"")?;
    let timer = hex_u8(timer).ok_or("the timer kind is not a hex byte")?;
    let when = hex_u64(when).ok_or("the timer's time left is not hex")?;
    let _retransmits = field("missing the retransmit count")?;
    let uid = field("missing the uid")?
        .parse()
        .map_err(|_| "the uid is not a decimal number")?;
    let _timeout = field("missing the probe count")?;
    let inode = field("missing the inode")?
        .parse()
        .map_err(|_| "the inode is not a decimal number")?;
    let remaining = USER_HZ_TICK.saturating_mul(u32::try_from(when).unwrap_or(u32::MAX));
    Ok(SocketEntry {
        local,
        remote,
        state: KernelState::from_code(state),
        timer: Timer::from_code(timer, remaining),
        uid,
        inode,
    })
}

fn parse_endpoint(text: &str) -> Result<SocketAddr, &'static str> {
    let (addr, port) = text
        .split_once(':')
        .ok_or("an address is not \"address:port\"")?;
    let port = hex_u16(port).ok_or("a port is not four hex digits")?;
    let ip = match addr.len() {
        8 => {
            let word = hex_u32(addr).ok_or("an IPv4 address is not hex")?;
            IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes()))
        }
        32 => {
            let mut octets = [0u8; 16];
            for (chunk, word) in octets.chunks_exact_mut(4).zip(0..) {
                let hex = addr
                    .get(word * 8..word * 8 + 8)
                    .ok_or("an IPv6 address is not hex")?;
                let word = hex_u32(hex).ok_or("an IPv6 address is not hex")?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()
        }
        _ => return Err("an address has neither 8 nor 32 hex digits"),
    };
    Ok(SocketAddr::new(ip, port))
}

fn all_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex_u8(text: &str) -> Option<u8> {
    all_hex(text).then(|| u8::from_str_radix(text, 16).ok())?
}

fn hex_u16(text: &str) -> Option<u16> {
    all_hex(text).then(|| u16::from_str_radix(text, 16).ok())?
}

fn hex_u32(text: &str) -> Option<u32> {
    all_hex(text).then(|| u32::from_str_radix(text, 16).ok())?
}

fn hex_u64(text: &str) -> Option<u64> {
    all_hex(text).then(|| u64::from_str_radix(text, 16).ok())?
}
