//! `timewait-core`: a deterministic model of where TCP's TIME_WAIT lands and
//! what it costs.
//!
//! This crate does no I/O and reads no clock (the Linux [`sys`] module, which
//! reads the kernel's files and sockets, is the one exception). Every function
//! that depends on time takes `now`; callers in an async runtime pass their
//! runtime's clock, which is what lets tests move through 2×MSL instantly.
//!
//! - [`state`]: the eleven states of RFC 9293 and the kernel's codes for them.
//! - [`machine`]: events in, next state and segment out, for every transition
//!   of RFC 9293's state diagram.
//! - [`connection`]: one tracked connection: four-tuple, state history, who
//!   closed first and when its TIME_WAIT ends.
//! - [`ledger`]: TIME_WAIT entries per destination, with their 2×MSL expiry.
//! - [`budget`]: the ephemeral port range and what it allows per destination.
//! - [`sys`] (Linux): sysctls and a census of the kernel's TCP sockets.

// Library code never unwraps what a user, a peer or the kernel controls;
// tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod budget;
pub mod connection;
pub mod ledger;
pub mod machine;
pub mod state;
#[cfg(target_os = "linux")]
pub mod sys;

pub use state::{KernelState, TcpState};

/// How long Linux holds a connection in TIME_WAIT: 60 s, the kernel's
/// compile-time `TCP_TIMEWAIT_LEN` (2×MSL with MSL = 30 s). It is not
/// `net.ipv4.tcp_fin_timeout`, which bounds FIN_WAIT_2 for orphaned sockets.
/// RFC 9293 suggests MSL = 2 min, a TIME_WAIT of 4 min; every type that uses
/// the length lets it be configured and defaults to this one.
pub const DEFAULT_TIME_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
