//! The census: which TCP sockets this network namespace holds, by state and
//! endpoint.

use std::fs::File;
use std::io::{self, BufReader};
use std::net::IpAddr;

use super::proc_net::{PROC_NET_TCP, PROC_NET_TCP6, ProcNetError, parse_proc_net_tcp};
use super::sock_diag::{IpFamily, SockDiag, SockDiagError};
use super::socket::{SocketEntry, StateSet};
use crate::state::TcpState;

/// Where a census reads the kernel's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Source {
    /// sock_diag, or `/proc/net/tcp{,6}` when sock_diag is unavailable (the
    /// netlink socket cannot be opened, or the kernel refuses the request).
    #[default]
    Auto,
    /// Netlink sock_diag only: the kernel filters by state, as for `ss`.
    SockDiag,
    /// `/proc/net/tcp` and `/proc/net/tcp6` only: every socket, in text.
    ProcNet,
}

/// A census failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CensusError {
    /// The sock_diag dump failed (with [`Source::Auto`], after it had begun).
    #[error(transparent)]
    SockDiag(#[from] SockDiagError),
    /// A `/proc/net/tcp{,6}` file could not be read or parsed.
    #[error("{file}: {source}")]
    ProcNet {
        /// The file.
        file: &'static str,
        /// What went wrong.
        #[source]
        source: ProcNetError,
    },
}

/// A census of the namespace's TCP sockets (IPv4 and IPv6), filtered by state,
/// port and remote address. Each call reads the kernel afresh.
///
/// ```
/// use timewait_core::sys::{Census, StateSet};
/// use timewait_core::TcpState;
///
/// // TIME_WAIT entries of connections to or from port 443.
/// let census = Census::new().states(StateSet::only(TcpState::TimeWait)).port(443);
/// let report = census.run()?;
/// for entry in report.entries() {
///     println!("{} -> {}: {:?} left", entry.local, entry.remote, entry.time_wait_remaining());
/// }
/// println!("{} entries, read from {:?}", report.entries().len(), report.source());
/// # Ok::<(), timewait_core::sys::CensusError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    states: StateSet,
    local_port: Option<u16>,
    remote_port: Option<u16>,
    either_port: Option<u16>,
    remote_ip: Option<IpAddr>,
    source: Source,
}

impl Default for Census {
    fn default() -> Self {
        Census::new()
    }
}

impl Census {
    /// A census of every TCP socket, from [`Source::Auto`].
    pub fn new() -> Census {
        Census {
            states: StateSet::ALL,
            local_port: None,
            remote_port: None,
            either_port: None,
            remote_ip: None,
            source: Source::Auto,
        }
    }

    /// A census of TIME_WAIT entries only.
    pub fn time_wait() -> Census {
        Census::new().states(StateSet::only(TcpState::TimeWait))
    }

    /// Only sockets in these states (`SYN_RECV` also selects the kernel's
    /// `NEW_SYN_RECV` request sockets, as in `ss`).
    pub fn states(mut self, states: StateSet) -> Census {
        self.states = states;
        self
    }

    /// Only sockets whose local port is `port` (a server's listening port,
    /// or a client's ephemeral port).
    pub fn local_port(mut self, port: u16) -> Census {
        self.local_port = Some(port);
        self
    }

    /// Only sockets whose remote port is `port` (on a client, the server's).
    pub fn remote_port(mut self, port: u16) -> Census {
        self.remote_port = Some(port);
        self
    }

    /// Only sockets whose local or remote port is `port`.
    pub fn port(mut self, port: u16) -> Census {
        self.either_port = Some(port);
        self
    }

    /// Only sockets whose remote address is `ip` (IPv4-mapped IPv6 addresses
    /// match their IPv4 form).
    pub fn remote_ip(mut self, ip: IpAddr) -> Census {
        self.remote_ip = Some(ip.to_canonical());
        self
    }

    /// Where to read the sockets.
    pub fn source(mut self, source: Source) -> Census {
        self.source = source;
        self
    }

    /// Whether `entry` passes this census's filters.
    pub fn matches(&self, entry: &SocketEntry) -> bool {
        let ports = (entry.local.port(), entry.remote.port());
        StateSet::from_bits(self.states.kernel_mask()).contains(entry.state)
            && self.local_port.is_none_or(|p| p == ports.0)
            && self.remote_port.is_none_or(|p| p == ports.1)
            && self
                .either_port
                .is_none_or(|p| p == ports.0 || p == ports.1)
            && self
                .remote_ip
                .is_none_or(|ip| ip == entry.remote.ip().to_canonical())
    }

    /// The matching sockets, with the source they came from.
    pub fn run(&self) -> Result<CensusReport, CensusError> {
        let mut entries = Vec::new();
        let (source, fallback) = self.scan(&mut |entry| entries.push(entry))?;
        Ok(CensusReport {
            entries,
            source,
            fallback,
        })
    }

    /// The matching sockets.
    pub fn list(&self) -> Result<Vec<SocketEntry>, CensusError> {
        self.run().map(CensusReport::into_entries)
    }

    /// How many sockets match, without keeping them.
    pub fn count(&self) -> Result<usize, CensusError> {
        let mut count = 0usize;
        self.scan(&mut |_| count += 1)?;
        Ok(count)
    }

    /// Feeds every matching socket to `each`; returns the source used and,
    /// if [`Source::Auto`] fell back to `/proc`, why.
    fn scan(
        &self,
        each: &mut dyn FnMut(SocketEntry),
    ) -> Result<(Source, Option<SockDiagError>), CensusError> {
        let mut filtered = |entry: SocketEntry| {
            if self.matches(&entry) {
                each(entry);
            }
        };
        match self.source {
            Source::SockDiag => {
                self.scan_sock_diag(&mut filtered)?;
                Ok((Source::SockDiag, None))
            }
            Source::ProcNet => {
                scan_proc_net(&mut filtered)?;
                Ok((Source::ProcNet, None))
            }
            Source::Auto => match self.scan_sock_diag(&mut filtered) {
                Ok(()) => Ok((Source::SockDiag, None)),
                Err(Unavailable(reason)) => {
                    scan_proc_net(&mut filtered)?;
                    Ok((Source::ProcNet, Some(reason)))
                }
                Err(Failed(error)) => Err(error.into()),
            },
        }
    }

    fn scan_sock_diag(&self, each: &mut dyn FnMut(SocketEntry)) -> Result<(), DiagOutcome> {
        let mut diag = SockDiag::open().map_err(Unavailable)?;
        let mask = self.states.kernel_mask();
        let mut seen = false;
        let mut first = |entry| {
            seen = true;
            each(entry);
        };
        match diag.dump(IpFamily::V4, mask, &mut first) {
            Ok(()) => {}
            Err(e @ (SockDiagError::Send(_) | SockDiagError::Kernel { .. })) if !seen => {
                return Err(Unavailable(e));
            }
            Err(e) => return Err(Failed(e)),
        }
        diag.dump(IpFamily::V6, mask, each).map_err(Failed)
    }
}

/// Whether a failed sock_diag dump may fall back to `/proc`: only when it
/// failed before it delivered anything.
enum DiagOutcome {
    Unavailable(SockDiagError),
    Failed(SockDiagError),
}
use DiagOutcome::{Failed, Unavailable};

impl From<DiagOutcome> for CensusError {
    fn from(outcome: DiagOutcome) -> CensusError {
        match outcome {
            Unavailable(e) | Failed(e) => CensusError::SockDiag(e),
        }
    }
}

fn scan_proc_net(each: &mut dyn FnMut(SocketEntry)) -> Result<(), CensusError> {
    for file in [PROC_NET_TCP, PROC_NET_TCP6] {
        let error = |source| CensusError::ProcNet { file, source };
        let reader = match File::open(file) {
            Ok(f) => BufReader::new(f),
            // A kernel without IPv6 has no tcp6 table, and no IPv6 socket.
            Err(e) if e.kind() == io::ErrorKind::NotFound && file == PROC_NET_TCP6 => continue,
            Err(e) => return Err(error(ProcNetError::Read(e))),
        };
        for entry in parse_proc_net_tcp(reader) {
            each(entry.map_err(error)?);
        }
    }
    Ok(())
}

/// What a census found, and where it looked.
#[derive(Debug)]
pub struct CensusReport {
    entries: Vec<SocketEntry>,
    source: Source,
    fallback: Option<SockDiagError>,
}

impl CensusReport {
    /// The matching sockets, IPv4 ones first, in the kernel's order.
    pub fn entries(&self) -> &[SocketEntry] {
        &self.entries
    }

    /// The matching sockets, by value.
    pub fn into_entries(self) -> Vec<SocketEntry> {
        self.entries
    }

    /// The source read: [`Source::SockDiag`] or [`Source::ProcNet`], never
    /// [`Source::Auto`].
    pub fn source(&self) -> Source {
        self.source
    }

    /// Why [`Source::Auto`] fell back to `/proc`, if it did.
    pub fn fallback_reason(&self) -> Option<&SockDiagError> {
        self.fallback.as_ref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn entry(local: &str, remote: &str, state: TcpState) -> SocketEntry {
        SocketEntry {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state: state.into(),
            timer: None,
            uid: 0,
            inode: 0,
        }
    }

    #[test]
    fn every_filter_must_match() {
        let server = entry("10.0.0.1:443", "10.0.0.2:50000", TcpState::TimeWait);
        let client = entry("10.0.0.2:50000", "10.0.0.1:443", TcpState::TimeWait);
        let census = Census::time_wait().local_port(443);
        assert!(census.matches(&server) && !census.matches(&client));
        let census = Census::time_wait().remote_port(443);
        assert!(!census.matches(&server) && census.matches(&client));
        let census = Census::time_wait().port(443);
        assert!(census.matches(&server) && census.matches(&client));
        let census = Census::time_wait()
            .port(443)
            .remote_ip(Ipv4Addr::new(10, 0, 0, 1).into());
        assert!(!census.matches(&server) && census.matches(&client));
        let open = entry("10.0.0.1:443", "10.0.0.2:50000", TcpState::Established);
        assert!(!Census::time_wait().matches(&open));
        assert!(Census::new().matches(&open));
    }

    #[test]
    fn a_remote_ip_filter_matches_the_ipv4_mapped_form() {
        let mapped = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped();
        let census = Census::new().remote_ip(mapped.into());
        let client = entry("10.0.0.2:50000", "10.0.0.1:443", TcpState::Established);
        assert!(census.matches(&client));
    }
}
