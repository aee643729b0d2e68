//! The `net.ipv4` sysctls that decide where TIME_WAIT costs ports.
//!
//! Each sysctl has a pure `parse_*` function over the text of its file (what
//! `cat /proc/sys/net/ipv4/...` prints) and a reader that opens the file and
//! calls it. The values are those of the caller's network namespace.

use std::io;
use std::time::Duration;

use crate::budget::{PortBudget, PortRange, ReservedPorts, TwReuse};

/// `net.ipv4.ip_local_port_range`: the ephemeral ports.
pub const IP_LOCAL_PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// `net.ipv4.ip_local_reserved_ports`: ports taken out of the ephemeral range.
pub const IP_LOCAL_RESERVED_PORTS: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";
/// `net.ipv4.tcp_tw_reuse`: whether `connect()` may reuse its own TIME_WAIT.
pub const TCP_TW_REUSE: &str = "/proc/sys/net/ipv4/tcp_tw_reuse";
/// `net.ipv4.tcp_max_tw_buckets`: the most TIME_WAIT entries a namespace keeps.
pub const TCP_MAX_TW_BUCKETS: &str = "/proc/sys/net/ipv4/tcp_max_tw_buckets";
/// `net.ipv4.tcp_fin_timeout`: the FIN_WAIT_2 bound of orphaned sockets.
pub const TCP_FIN_TIMEOUT: &str = "/proc/sys/net/ipv4/tcp_fin_timeout";

/// A sysctl could not be read or did not hold what the kernel writes there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysctlError {
    /// The file could not be read (no `/proc` mounted, or not Linux).
    #[error("cannot read {file}: {source}; mount procfs at /proc")]
    Read {
        /// The file.
        file: &'static str,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The file's text is not a value of this sysctl.
    #[error("cannot parse {file}: {reason}, in {text:?}")]
    Parse {
        /// The file the text comes (or would come) from.
        file: &'static str,
        /// The text, as read.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn parse_error(file: &'static str, text: &str, reason: impl Into<String>) -> SysctlError {
    SysctlError::Parse {
        file,
        text: text.to_owned(),
        reason: reason.into(),
    }
}

fn read(file: &'static str) -> Result<String, SysctlError> {
    std::fs::read_to_string(file).map_err(|source| SysctlError::Read { file, source })
}

fn parse_port(file: &'static str, text: &str, word: &str) -> Result<u16, SysctlError> {
    word.parse()
        .map_err(|_| parse_error(file, text, format!("{word:?} is not a port number")))
}

fn port_range(
    file: &'static str,
    text: &str,
    low: u16,
    high: u16,
) -> Result<PortRange, SysctlError> {
    PortRange::new(low, high).map_err(|e| parse_error(file, text, e.to_string()))
}

/// Parses `ip_local_port_range`: two port numbers separated by white space.
///
/// ```
/// use timewait_core::sys::parse_ip_local_port_range;
///
/// let range = parse_ip_local_port_range("32768\t60999\n")?;
/// assert_eq!((range.low(), range.high()), (32768, 60999));
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn parse_ip_local_port_range(text: &str) -> Result<PortRange, SysctlError> {
    let file = IP_LOCAL_PORT_RANGE;
    let mut words = text.split_whitespace();
    let (Some(low), Some(high), None) = (words.next(), words.next(), words.next()) else {
        return Err(parse_error(file, text, "expected two port numbers"));
    };
    let low = parse_port(file, text, low)?;
    let high = parse_port(file, text, high)?;
    port_range(file, text, low, high)
}

/// Reads `net.ipv4.ip_local_port_range`.
///
/// ```
/// let range = timewait_core::sys::ip_local_port_range()?;
/// assert!(range.low() <= range.high());
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn ip_local_port_range() -> Result<PortRange, SysctlError> {
    parse_ip_local_port_range(&read(IP_LOCAL_PORT_RANGE)?)
}

/// Parses `ip_local_reserved_ports`: empty, or comma-separated ports and
/// `low-high` ranges such as `8080,9000-9100`.
///
/// ```
/// use timewait_core::sys::parse_ip_local_reserved_ports;
///
/// let reserved = parse_ip_local_reserved_ports("8080,9000-9100\n")?;
/// assert!(reserved.contains(8080) && reserved.contains(9050));
/// assert!(!reserved.contains(8081));
/// let none = parse_ip_local_reserved_ports("\n")?;
/// assert!((1..=u16::MAX).all(|port| !none.contains(port)));
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn parse_ip_local_reserved_ports(text: &str) -> Result<ReservedPorts, SysctlError> {
    let file = IP_LOCAL_RESERVED_PORTS;
    let mut reserved = ReservedPorts::new();
    let list = text.trim();
    if list.is_empty() {
        return Ok(reserved);
    }
    for item in list.split(',') {
        let item = item.trim();
        let (low, high) = match item.split_once('-') {
            Some((low, high)) => (parse_port(file, text, low)?, parse_port(file, text, high)?),
            None => {
                let port = parse_port(file, text, item)?;
                (port, port)
            }
        };
        reserved.insert(port_range(file, text, low, high)?);
    }
    Ok(reserved)
}

/// Reads `net.ipv4.ip_local_reserved_ports`.
///
/// ```
/// let reserved = timewait_core::sys::ip_local_reserved_ports()?;
/// println!("port 8080 reserved: {}", reserved.contains(8080));
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn ip_local_reserved_ports() -> Result<ReservedPorts, SysctlError> {
    parse_ip_local_reserved_ports(&read(IP_LOCAL_RESERVED_PORTS)?)
}

/// Parses `tcp_tw_reuse`: `0`, `1` or `2`.
///
/// ```
/// use timewait_core::sys::{parse_tcp_tw_reuse, TwReuse};
///
/// assert_eq!(parse_tcp_tw_reuse("2\n")?, TwReuse::LoopbackOnly);
/// assert!(parse_tcp_tw_reuse("3\n").is_err());
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn parse_tcp_tw_reuse(text: &str) -> Result<TwReuse, SysctlError> {
    match text.trim() {
        "0" => Ok(TwReuse::Disabled),
        "1" => Ok(TwReuse::Enabled),
        "2" => Ok(TwReuse::LoopbackOnly),
        _ => Err(parse_error(TCP_TW_REUSE, text, "expected 0, 1 or 2")),
    }
}

/// Reads `net.ipv4.tcp_tw_reuse`.
///
/// ```
/// use std::net::Ipv4Addr;
///
/// let reuse = timewait_core::sys::tcp_tw_reuse()?;
/// println!("reuse toward 192.0.2.1: {}", reuse.reuses_for(Ipv4Addr::new(192, 0, 2, 1).into()));
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn tcp_tw_reuse() -> Result<TwReuse, SysctlError> {
    parse_tcp_tw_reuse(&read(TCP_TW_REUSE)?)
}

fn parse_count(file: &'static str, text: &str) -> Result<u64, SysctlError> {
    text.trim()
        .parse()
        .map_err(|_| parse_error(file, text, "expected a non-negative integer"))
}

/// Parses `tcp_max_tw_buckets`: past this many TIME_WAIT entries in the
/// namespace, the kernel closes sockets without TIME_WAIT (and logs
/// "TCP: time wait bucket table overflow").
///
/// ```
/// use timewait_core::sys::parse_tcp_max_tw_buckets;
///
/// assert_eq!(parse_tcp_max_tw_buckets("131072\n")?, 131_072);
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn parse_tcp_max_tw_buckets(text: &str) -> Result<u64, SysctlError> {
    parse_count(TCP_MAX_TW_BUCKETS, text)
}

/// Reads `net.ipv4.tcp_max_tw_buckets`.
///
/// ```
/// let most = timewait_core::sys::tcp_max_tw_buckets()?;
/// println!("at most {most} TIME_WAIT entries");
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn tcp_max_tw_buckets() -> Result<u64, SysctlError> {
    parse_tcp_max_tw_buckets(&read(TCP_MAX_TW_BUCKETS)?)
}

/// Parses `tcp_fin_timeout`, in seconds.
///
/// **This is not the length of TIME_WAIT.** It bounds how long an orphaned
/// socket (one the application has closed) waits in FIN_WAIT_2 for the peer's
/// FIN. TIME_WAIT lasts the kernel's fixed `TCP_TIMEWAIT_LEN`, 60 s
/// ([`DEFAULT_TIME_WAIT`](crate::DEFAULT_TIME_WAIT)), whatever this says.
///
/// ```
/// use std::time::Duration;
/// use timewait_core::sys::parse_tcp_fin_timeout;
///
/// assert_eq!(parse_tcp_fin_timeout("60\n")?, Duration::from_secs(60));
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn parse_tcp_fin_timeout(text: &str) -> Result<Duration, SysctlError> {
    parse_count(TCP_FIN_TIMEOUT, text).map(Duration::from_secs)
}

/// Reads `net.ipv4.tcp_fin_timeout`: the FIN_WAIT_2 bound of orphaned
/// sockets, **not** the TIME_WAIT length (see [`parse_tcp_fin_timeout`]).
///
/// ```
/// let fin_wait_2 = timewait_core::sys::tcp_fin_timeout()?;
/// println!("orphans wait {fin_wait_2:?} in FIN_WAIT_2");
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn tcp_fin_timeout() -> Result<Duration, SysctlError> {
    parse_tcp_fin_timeout(&read(TCP_FIN_TIMEOUT)?)
}

/// The port budget of this namespace: `ip_local_port_range` minus
/// `ip_local_reserved_ports`, with Linux's 60 s TIME_WAIT.
///
/// ```
/// let budget = timewait_core::sys::port_budget()?;
/// println!("{} ports, {:.0} new connections/s per destination",
///     budget.usable_ports(), budget.sustained_rate());
/// # Ok::<(), timewait_core::sys::SysctlError>(())
/// ```
pub fn port_budget() -> Result<PortBudget, SysctlError> {
    let range = ip_local_port_range()?;
    let reserved = ip_local_reserved_ports()?;
    Ok(PortBudget::new(range).with_reserved(reserved))
}
