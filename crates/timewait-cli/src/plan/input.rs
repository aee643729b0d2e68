//! What a plan is computed from: the flags, and the live sysctls for the
//! values no flag gave.

use std::fmt;

use serde::Serialize;
use timewait_core::budget::{PortRange, ReservedPorts, TwReuse};

use crate::cli::{ClosePolicy, PlanArgs};
use crate::error::CliError;
use crate::slab::{self, EntrySize};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provenance {
    /// A command-line flag.
    Flag,
    /// The running kernel (the caller's network namespace).
    Live,
    /// The tool's default.
    Default,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provenance::Flag => "flag",
            Provenance::Live => "live",
            Provenance::Default => "default",
        })
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub from: Provenance,
}

/// Every figure a plan depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// Requests per second per destination.
    pub rate: u64,
    /// Destinations, each at `rate` (at least 1).
    pub destinations: u64,
    /// Local addresses sharing the connections (at least 1).
    pub source_ips: u64,
    /// Requests per connection (at least 1).
    pub requests_per_connection: u64,
    /// Who closes first.
    pub close_policy: ClosePolicy,
    /// The ephemeral range.
    pub port_range: PortRange,
    /// The reserved ports.
    pub reserved_ports: ReservedPorts,
    /// `tcp_tw_reuse`.
    pub tw_reuse: TwReuse,
    /// Whether the destinations are loopback addresses.
    pub loopback: bool,
    /// `tcp_max_tw_buckets`.
    pub max_tw_buckets: u64,
    /// TIME_WAIT length in seconds (at least 1).
    pub time_wait_secs: u64,
    /// Kernel bytes per TIME_WAIT entry, when measured.
    pub tw_entry_bytes: Option<u64>,
}

impl PlanInput {
    /// `rate` toward one destination from one source IP, one request per
    /// connection, this host closing first, with Linux's defaults
    /// (32768-60999, nothing reserved, `tcp_tw_reuse=2`, 131,072 buckets,
    /// 60 s) and an unknown entry size.
    pub fn linux_defaults(rate: u64) -> PlanInput {
        PlanInput {
            rate,
            destinations: 1,
            source_ips: 1,
            requests_per_connection: 1,
            close_policy: ClosePolicy::Local,
            port_range: PortRange::LINUX_DEFAULT,
            reserved_ports: ReservedPorts::new(),
            tw_reuse: TwReuse::LoopbackOnly,
            loopback: false,
            max_tw_buckets: 131_072,
            time_wait_secs: 60,
            tw_entry_bytes: None,
        }
    }

    /// Ports per source IP: the range less the reserved ports inside it.
    pub fn usable_ports(&self) -> u32 {
        self.port_range
            .len()
            .saturating_sub(self.reserved_ports.count_within(self.port_range))
    }

    /// Whether `tcp_tw_reuse` covers these destinations.
    pub fn tw_reuse_applies(&self) -> bool {
        match self.tw_reuse {
            TwReuse::Disabled => false,
            TwReuse::Enabled => true,
            TwReuse::LoopbackOnly => self.loopback,
        }
    }
}

/// The kernel settings a plan uses, each with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// `ip_local_port_range`, as `LOW-HIGH`.
    pub port_range: Sourced<String>,
    /// `ip_local_reserved_ports`, as the sysctl lists them.
    pub reserved_ports: Sourced<String>,
    /// `tcp_tw_reuse`.
    pub tw_reuse: Sourced<u8>,
    /// `tcp_max_tw_buckets`.
    pub max_tw_buckets: Sourced<u64>,
    /// The TIME_WAIT length, seconds.
    pub time_wait_secs: Sourced<u64>,
    /// The entry size and where it was measured.
    pub tw_entry: EntrySize,
}

/// Resolves the flags into a plan's input: each sysctl a flag did not give
/// is read from the running kernel.
pub fn resolve(args: &PlanArgs) -> Result<(PlanInput, Settings), CliError> {
    let live = Live::new();
    let (port_range, range_from) = pick(args.port_range, || live.port_range())?;
    let (reserved_ports, reserved_from) =
        pick(args.reserved_ports.clone(), || live.reserved_ports())?;
    let (tw_reuse, reuse_from) = pick(args.tw_reuse, || live.tw_reuse())?;
    let (max_tw_buckets, buckets_from) = pick(args.max_tw_buckets, || live.max_tw_buckets())?;
    let tw_entry = slab::entry_size(args.slabinfo.as_deref())?;
    let reserved_text = if reserved_ports.is_empty() {
        "none".to_owned()
    } else {
        let list: Vec<String> = reserved_ports
            .ranges()
            .iter()
            .map(|r| {
                if r.low() == r.high() {
                    r.low().to_string()
                } else {
                    r.to_string()
                }
            })
            .collect();
        list.join(",")
    };
    let settings = Settings {
        port_range: Sourced {
            value: port_range.to_string(),
            from: range_from,
        },
        reserved_ports: Sourced {
            value: reserved_text,
            from: reserved_from,
        },
        tw_reuse: Sourced {
            value: tw_reuse.value(),
            from: reuse_from,
        },
        max_tw_buckets: Sourced {
            value: max_tw_buckets,
            from: buckets_from,
        },
        time_wait_secs: Sourced {
            value: args.time_wait,
            from: if args.time_wait == 60 {
                Provenance::Default
            } else {
                Provenance::Flag
            },
        },
        tw_entry: tw_entry.clone(),
    };
    let input = PlanInput {
        rate: args.rate,
        destinations: args.destinations,
        source_ips: args.source_ips,
        requests_per_connection: args.requests_per_connection,
        close_policy: args.close_policy,
        port_range,
        reserved_ports,
        tw_reuse,
        loopback: args.loopback,
        max_tw_buckets,
        time_wait_secs: args.time_wait,
        tw_entry_bytes: tw_entry.bytes,
    };
    Ok((input, settings))
}

fn pick<T>(
    flag: Option<T>,
    live: impl FnOnce() -> Result<T, CliError>,
) -> Result<(T, Provenance), CliError> {
    match flag {
        Some(value) => Ok((value, Provenance::Flag)),
        None => live().map(|value| (value, Provenance::Live)),
    }
}

/// The live sysctls, read one at a time, only when a flag is missing.
struct Live;

#[cfg(target_os = "linux")]
impl Live {
    fn new() -> Live {
        Live
    }

    fn port_range(&self) -> Result<PortRange, CliError> {
        timewait_core::sys::ip_local_port_range().map_err(|source| CliError::Sysctl {
            flag: "--port-range",
            source,
        })
    }

    fn reserved_ports(&self) -> Result<ReservedPorts, CliError> {
        timewait_core::sys::ip_local_reserved_ports().map_err(|source| CliError::Sysctl {
            flag: "--reserved-ports",
            source,
        })
    }

    fn tw_reuse(&self) -> Result<TwReuse, CliError> {
        timewait_core::sys::tcp_tw_reuse().map_err(|source| CliError::Sysctl {
            flag: "--tw-reuse",
            source,
        })
    }

    fn max_tw_buckets(&self) -> Result<u64, CliError> {
        timewait_core::sys::tcp_max_tw_buckets().map_err(|source| CliError::Sysctl {
            flag: "--max-tw-buckets",
            source,
        })
    }
}

#[cfg(not(target_os = "linux"))]
impl Live {
    fn new() -> Live {
        Live
    }

    fn missing<T>(&self) -> Result<T, CliError> {
        Err(CliError::NotLinux {
            command: "plan",
            hint: "; elsewhere give --port-range, --reserved-ports, --tw-reuse and --max-tw-buckets",
        })
    }

    fn port_range(&self) -> Result<PortRange, CliError> {
        self.missing()
    }

    fn reserved_ports(&self) -> Result<ReservedPorts, CliError> {
        self.missing()
    }

    fn tw_reuse(&self) -> Result<TwReuse, CliError> {
        self.missing()
    }

    fn max_tw_buckets(&self) -> Result<u64, CliError> {
        self.missing()
    }
}
