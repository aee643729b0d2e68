//! The kernel's settings that decide the port budget, read once per view.

use std::collections::BTreeSet;

use timewait_core::TcpState;
use timewait_core::budget::{PortBudget, TwReuse};
use timewait_core::sys::{self, Census, SocketEntry, Source};

use crate::error::CliError;

/// The sysctls and the namespace's TIME_WAIT total.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelFacts {
    /// Range, reserved ports and Linux's 60 s TIME_WAIT.
    pub budget: PortBudget,
    /// `tcp_tw_reuse`.
    pub tw_reuse: TwReuse,
    /// `tcp_max_tw_buckets`.
    pub max_tw_buckets: u64,
    /// `tcp_fin_timeout`, seconds (FIN_WAIT_2 of orphans, not TIME_WAIT).
    pub fin_timeout_secs: u64,
    /// TIME_WAIT entries in the namespace, from `/proc/net/sockstat`.
    pub time_wait_total: u64,
}

impl KernelFacts {
    /// Reads them from the caller's network namespace.
    pub fn read() -> Result<KernelFacts, CliError> {
        Ok(KernelFacts {
            budget: sys::port_budget()?,
            tw_reuse: sys::tcp_tw_reuse()?,
            max_tw_buckets: sys::tcp_max_tw_buckets()?,
            fin_timeout_secs: sys::tcp_fin_timeout()?.as_secs(),
            time_wait_total: sys::time_wait_total()?,
        })
    }
}

/// The local ports of the namespace's listening sockets: a socket whose
/// local port is one of them is the server's side of its connection.
pub fn listening_ports() -> Result<BTreeSet<u16>, CliError> {
    let listeners = Census::new()
        .states(sys::StateSet::only(TcpState::Listen))
        .list()?;
    Ok(listeners.iter().map(|e| e.local.port()).collect())
}

/// The name of a census source, as printed.
pub fn source_name(source: Source) -> &'static str {
    match source {
        Source::SockDiag => "sock_diag",
        Source::ProcNet => "/proc/net/tcp",
        Source::Auto => "auto",
    }
}

/// Whether `entry` is the server's side: its local port is a listening port.
pub fn is_server_side(listening: &BTreeSet<u16>, entry: &SocketEntry) -> bool {
    listening.contains(&entry.local.port())
}
