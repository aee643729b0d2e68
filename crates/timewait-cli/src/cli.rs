//! The command line: each command's flags, and the parsers of their values.
//!
//! A value that cannot be right (an inverted port range, a TIME_WAIT of
//! zero seconds) is refused here, by clap, so it is a usage error (exit 2)
//! with the flag's name in the message.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use timewait_core::budget::{PortRange, ReservedPorts, TwReuse};

/// Where this host's TCP TIME_WAIT is, how fast it grows toward each
/// destination, and what a connection rate needs.
#[derive(Debug, Parser)]
#[command(name = "timewait", version)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// TIME_WAIT entries grouped by destination and by local port, with the port budget.
    Census(CensusArgs),
    /// A live view per destination: TIME_WAIT, its rate, and the time until connect() fails.
    Watch(WatchArgs),
    /// The arithmetic: the ports a connection rate needs, where TIME_WAIT lands, what fixes it.
    Plan(PlanArgs),
}

/// `timewait census`.
#[derive(Debug, Args)]
pub struct CensusArgs {
    /// How many groups to show in each table.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Keep only sockets whose local or remote port is this one.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `timewait watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between snapshots: `1s`, `500ms`, `2` (seconds).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print one view and exit: two snapshots `--interval` apart, so that
    /// rates are known (with `--interval 0`, one snapshot and no rates).
    #[arg(long)]
    pub once: bool,
    /// How many destinations to show (the most endangered first).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print JSON instead of tables: one object per refresh, each on one
    /// line (with `--once`, one object, indented).
    #[arg(long)]
    pub json: bool,
}

/// Who sends the first FIN when a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosePolicy {
    /// The server closes first (asked to, or on its idle timeout): TIME_WAIT on the server.
    PeerFirst,
    /// This host closes first, as a plain client does: TIME_WAIT here.
    Local,
    /// This host resets the connection (SO_LINGER 0): no TIME_WAIT, and no protection.
    Abort,
}

/// `timewait plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Requests per second per destination; each is a new connection unless
    /// `--requests-per-connection` says otherwise.
    #[arg(long)]
    pub rate: u64,
    /// How many destinations (remote address and port) get this rate each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub destinations: u64,
    /// How many local addresses share the connections (with IP_BIND_ADDRESS_NO_PORT).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub source_ips: u64,
    /// Requests carried by each connection before it is closed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests_per_connection: u64,
    /// Who closes first: `local` is a plain client that closes its connections.
    #[arg(long, value_enum, default_value_t = ClosePolicy::Local)]
    pub close_policy: ClosePolicy,
    /// The ephemeral ports, `LOW-HIGH` (default: net.ipv4.ip_local_port_range).
    #[arg(long, value_parser = parse_port_range)]
    pub port_range: Option<PortRange>,
    /// Reserved ports, `8080,9000-9100` or `none` (default: net.ipv4.ip_local_reserved_ports).
    #[arg(long, value_parser = parse_reserved_ports)]
    pub reserved_ports: Option<ReservedPorts>,
    /// `0`, `1` or `2` (default: net.ipv4.tcp_tw_reuse).
    #[arg(long, value_parser = parse_tw_reuse)]
    pub tw_reuse: Option<TwReuse>,
    /// The most TIME_WAIT entries a namespace keeps (default: net.ipv4.tcp_max_tw_buckets).
    #[arg(long)]
    pub max_tw_buckets: Option<u64>,
    /// TIME_WAIT length in seconds (Linux: 60, fixed; RFC 9293: 240).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub time_wait: u64,
    /// The destinations are loopback addresses (`tcp_tw_reuse=2` applies to them).
    #[arg(long)]
    pub loopback: bool,
    /// Read the TIME_WAIT entry's size from this copy of /proc/slabinfo
    /// (default: /proc/slabinfo, when readable).
    #[arg(long)]
    pub slabinfo: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `LOW-HIGH` (or `LOW HIGH`, as the sysctl prints it).
///
/// ```
/// use timewait_cli::cli::parse_port_range;
///
/// assert_eq!(parse_port_range("32768-60999").map(|r| r.len()), Ok(28_232));
/// assert!(parse_port_range("60999-32768").is_err());
/// ```
pub fn parse_port_range(text: &str) -> Result<PortRange, String> {
    let (low, high) = text
        .split_once(['-', ' ', '\t'])
        .ok_or_else(|| format!("expected LOW-HIGH, such as 32768-60999, not {text:?}"))?;
    let port = |word: &str| {
        word.trim()
            .parse::<u16>()
            .map_err(|_| format!("{word:?} is not a port number (1 to 65535)"))
    };
    PortRange::new(port(low)?, port(high)?).map_err(|e| e.to_string())
}

/// Parses a reserved-ports list: `none`, or ports and `LOW-HIGH` ranges
/// separated by commas, as `ip_local_reserved_ports` prints it.
///
/// ```
/// use timewait_cli::cli::parse_reserved_ports;
///
/// let reserved = parse_reserved_ports("8080,9000-9100")?;
/// assert!(reserved.contains(8080) && reserved.contains(9100));
/// assert!(parse_reserved_ports("none")?.is_empty());
/// # Ok::<(), String>(())
/// ```
pub fn parse_reserved_ports(text: &str) -> Result<ReservedPorts, String> {
    let mut reserved = ReservedPorts::new();
    let list = text.trim();
    if list.is_empty() || list == "none" {
        return Ok(reserved);
    }
    for item in list.split(',') {
        let item = item.trim();
        let range = if item.contains('-') {
            parse_port_range(item)?
        } else {
            let port = item
                .parse::<u16>()
                .map_err(|_| format!("{item:?} is not a port number (1 to 65535)"))?;
            PortRange::new(port, port).map_err(|e| e.to_string())?
        };
        reserved.insert(range);
    }
    Ok(reserved)
}

/// Parses `tcp_tw_reuse`'s value: `0`, `1` or `2`.
pub fn parse_tw_reuse(text: &str) -> Result<TwReuse, String> {
    match text.trim() {
        "0" => Ok(TwReuse::Disabled),
        "1" => Ok(TwReuse::Enabled),
        "2" => Ok(TwReuse::LoopbackOnly),
        _ => Err("expected 0 (off), 1 (on) or 2 (loopback only)".to_owned()),
    }
}

/// Parses an interval: a number of seconds, or a number followed by `ms`,
/// `s` or `m`. At most a day.
///
/// ```
/// use std::time::Duration;
/// use timewait_cli::cli::parse_interval;
///
/// assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
/// assert!(parse_interval("-1s").is_err());
/// ```
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let not_a_duration = || format!("{text:?} is not a duration such as 1s or 500ms");
    if number.is_empty() {
        return Err(not_a_duration());
    }
    let seconds_per_unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s or m")),
    };
    let value: f64 = number.parse().map_err(|_| not_a_duration())?;
    let seconds = value * seconds_per_unit;
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("{text:?} is out of range: give 0 to 24 hours"));
    }
    Ok(Duration::from_secs_f64(seconds))
}
