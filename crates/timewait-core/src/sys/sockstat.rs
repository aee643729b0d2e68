//! `/proc/net/sockstat`: the namespace's socket totals, in constant time.
//!
//! The kernel keeps a counter of TIME_WAIT entries per network namespace, so
//! reading the total costs the same with ten entries or a hundred thousand,
//! unlike a census, which walks them all.

use std::io;

/// The file this module reads: `/proc/net/sockstat` of the calling thread's
/// network namespace (`/proc/net` itself follows the main thread's, which a
/// thread that entered another namespace with `setns(2)` does not share).
pub const SOCKSTAT: &str = "/proc/thread-self/net/sockstat";

/// The `TCP:` line of `/proc/net/sockstat`. Its counts cover IPv4 and IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct TcpSockstat {
    /// `inuse`: TCP sockets in use (IPv4 only: IPv6 ones are in `sockstat6`).
    pub in_use: u64,
    /// `orphan`: sockets the application closed that the kernel still holds.
    pub orphan: u64,
    /// `tw`: TIME_WAIT entries in the namespace, IPv4 and IPv6.
    pub time_wait: u64,
    /// `alloc`: allocated TCP sockets.
    pub alloc: u64,
    /// `mem`: pages of memory used by TCP buffers.
    pub mem_pages: u64,
}

/// `/proc/net/sockstat` could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SockstatError {
    /// The file could not be read.
    #[error("cannot read {SOCKSTAT}: {0}; mount procfs at /proc")]
    Read(#[source] io::Error),
    /// The text has no `TCP:` line.
    #[error("no \"TCP:\" line in {SOCKSTAT}, in {text:?}")]
    MissingTcpLine {
        /// The text, as read.
        text: String,
    },
    /// The `TCP:` line is not a list of `name number` pairs.
    #[error("cannot parse the \"TCP:\" line of {SOCKSTAT}: {reason}, in {line:?}")]
    Parse {
        /// The `TCP:` line.
        line: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Parses the text of `/proc/net/sockstat`. Counters this crate does not know
/// are skipped; `inuse` and `tw` must be present.
///
/// ```
/// use timewait_core::sys::parse_sockstat;
///
/// let text = "sockets: used 11\nTCP: inuse 1 orphan 0 tw 42 alloc 1 mem 257\n";
/// assert_eq!(parse_sockstat(text)?.time_wait, 42);
/// # Ok::<(), timewait_core::sys::SockstatError>(())
/// ```
pub fn parse_sockstat(text: &str) -> Result<TcpSockstat, SockstatError> {
    let Some(line) = text.lines().find_map(|line| line.strip_prefix("TCP:")) else {
        return Err(SockstatError::MissingTcpLine {
            text: text.to_owned(),
        });
    };
    let parse_error = |reason: String| SockstatError::Parse {
        line: format!("TCP:{line}"),
        reason,
    };
    let mut stat = TcpSockstat::default();
    let (mut seen_in_use, mut seen_time_wait) = (false, false);
    let mut words = line.split_whitespace();
    while let Some(name) = words.next() {
        let Some(value) = words.next() else {
            return Err(parse_error(format!("{name:?} has no value")));
        };
        let value: u64 = value
            .parse()
            .map_err(|_| parse_error(format!("{name} {value:?} is not a count")))?;
        match name {
            "inuse" => (stat.in_use, seen_in_use) = (value, true),
            "orphan" => stat.orphan = value,
            "tw" => (stat.time_wait, seen_time_wait) = (value, true),
            "alloc" => stat.alloc = value,
            "mem" => stat.mem_pages = value,
            _ => {}
        }
    }
    if !(seen_in_use && seen_time_wait) {
        return Err(parse_error(
            "expected \"inuse\" and \"tw\" counts".to_owned(),
        ));
    }
    Ok(stat)
}

/// Reads `/proc/net/sockstat`.
///
/// ```
/// let stat = timewait_core::sys::sockstat()?;
/// println!("{} TCP sockets in use, {} orphans", stat.in_use, stat.orphan);
/// # Ok::<(), timewait_core::sys::SockstatError>(())
/// ```
pub fn sockstat() -> Result<TcpSockstat, SockstatError> {
    let text = std::fs::read_to_string(SOCKSTAT).map_err(SockstatError::Read)?;
    parse_sockstat(&text)
}

/// The number of TIME_WAIT entries in this network namespace, IPv4 and IPv6,
/// read in constant time from `/proc/net/sockstat`.
///
/// ```
/// let total = timewait_core::sys::time_wait_total()?;
/// println!("{total} TIME_WAIT entries");
/// # Ok::<(), timewait_core::sys::SockstatError>(())
/// ```
pub fn time_wait_total() -> Result<u64, SockstatError> {
    sockstat().map(|stat| stat.time_wait)
}
