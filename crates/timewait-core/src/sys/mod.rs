//! Linux: the sysctls that set the port budget, and a census of the kernel's
//! TCP sockets.
//!
//! Everything here reads the caller's network namespace.
//!
//! - Sysctls ([`ip_local_port_range`], [`ip_local_reserved_ports`],
//!   [`tcp_tw_reuse`], [`tcp_max_tw_buckets`], [`tcp_fin_timeout`]) and
//!   [`port_budget`], which combines the first two.
//! - [`Census`]: the TCP sockets by state, port and remote address, read from
//!   netlink sock_diag (as `ss` does, with the state filter applied in the
//!   kernel) or from `/proc/net/tcp{,6}`, with each TIME_WAIT entry's time left.
//! - [`time_wait_total`]: the namespace's TIME_WAIT count from
//!   `/proc/net/sockstat`, in constant time.
//!
//! Every file format has a pure parser (`parse_*`) that takes text or bytes,
//! so it can be tested on captured input; the readers are a thin layer on top.
//!
//! The census and sockstat need the `census` feature (on by default); the
//! sysctl readers are always here.

#[cfg(feature = "census")]
mod census;
#[cfg(feature = "census")]
mod proc_net;
#[cfg(feature = "census")]
mod sock_diag;
#[cfg(feature = "census")]
mod socket;
#[cfg(feature = "census")]
mod sockstat;
mod sysctl;

pub use crate::budget::TwReuse;
#[cfg(feature = "census")]
pub use census::{Census, CensusError, CensusReport, Source};
#[cfg(feature = "census")]
pub use proc_net::{
    PROC_NET_TCP, PROC_NET_TCP6, ProcNetError, ProcNetTcp, USER_HZ_TICK, parse_proc_net_tcp,
};
#[cfg(feature = "census")]
pub use sock_diag::{
    IpFamily, REQUEST_LEN, SockDiagError, SockDiagMessage, SockDiagReply, parse_sock_diag_reply,
    sock_diag_request,
};
#[cfg(feature = "census")]
pub use socket::{SocketEntry, StateSet, Timer, TimerKind};
#[cfg(feature = "census")]
pub use sockstat::{
    SOCKSTAT, SockstatError, TcpSockstat, parse_sockstat, sockstat, time_wait_total,
};
pub use sysctl::{
    IP_LOCAL_PORT_RANGE, IP_LOCAL_RESERVED_PORTS, SysctlError, TCP_FIN_TIMEOUT, TCP_MAX_TW_BUCKETS,
    TCP_TW_REUSE, ip_local_port_range, ip_local_reserved_ports, parse_ip_local_port_range,
    parse_ip_local_reserved_ports, parse_tcp_fin_timeout, parse_tcp_max_tw_buckets,
    parse_tcp_tw_reuse, port_budget, tcp_fin_timeout, tcp_max_tw_buckets, tcp_tw_reuse,
};
