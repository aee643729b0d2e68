//! The arithmetic of a plan: integers, saturating, never a panic.
//!
//! Toward one destination, from one source IP, each local port carries one
//! connection at a time, and the side that closes first keeps the
//! connection's four-tuple in TIME_WAIT for the TIME_WAIT length *T*. At
//! *c* new connections per second, the closer holds ⌈*c*·*T*⌉ entries at
//! steady state; when the closer is this host, each entry holds a port, and
//! `connect()` fails once they outnumber the usable ports.

use serde::Serialize;

use super::input::PlanInput;
use crate::cli::ClosePolicy;

/// Who holds the TIME_WAIT entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// This host, the client: each entry holds a local port.
    Client,
    /// The server: each entry costs it memory, and no port of ours.
    Server,
    /// Nobody: the connections are reset.
    Nobody,
}

/// What a connection rate needs and where its TIME_WAIT lands. Counts are
/// per destination unless the name says `total`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// New connections per second per destination: rate ÷ requests per connection.
    pub connections_per_second: f64,
    /// Ports per source IP: the range less the reserved ports inside it.
    pub usable_ports: u32,
    /// Ports toward one destination: usable ports × source IPs.
    pub capacity: u64,
    /// New connections per second one destination sustains when this host
    /// closes first and TIME_WAIT is not reused: capacity ÷ TIME_WAIT length.
    pub sustained_rate: f64,
    /// Who holds TIME_WAIT.
    pub lands_on: Side,
    /// TIME_WAIT entries the closer holds at steady state.
    pub time_wait_per_destination: u64,
    /// The same, over every destination.
    pub time_wait_total: u64,
    /// Entries on this host, per destination (zero unless it closes first).
    pub client_time_wait_per_destination: u64,
    /// Entries on this host, in all.
    pub client_time_wait_total: u64,
    /// Entries on the server, per destination.
    pub server_time_wait_per_destination: u64,
    /// Whether `tcp_tw_reuse` lets `connect()` take this host's TIME_WAIT
    /// ports back (1; or 2 toward loopback destinations).
    pub tw_reuse_applies: bool,
    /// Seconds a closed connection keeps its port on this host: the
    /// TIME_WAIT length, 1 under `tcp_tw_reuse`, 0 when the server closes.
    pub port_hold_seconds: u64,
    /// Ports each destination needs at steady state for connections in
    /// TIME_WAIT here (the open connections come on top).
    pub ports_needed: u64,
    /// Entries this host keeps per destination once `tcp_max_tw_buckets`
    /// (shared by the destinations) caps them.
    pub ports_held: u64,
    /// Past `tcp_max_tw_buckets` the kernel destroys new TIME_WAIT entries
    /// at once (and logs "TCP: time wait bucket table overflow").
    pub buckets_overflow: bool,
    /// The server's entries for one destination alone pass
    /// `tcp_max_tw_buckets`, if the server's is the value used here.
    pub server_buckets_overflow: bool,
    /// `connect()` will fail with EADDRNOTAVAIL: more ports held than there are.
    pub connect_fails: bool,
    /// From no TIME_WAIT at all, seconds until the first failure (when it fails).
    pub seconds_until_failure: Option<f64>,
    /// Kernel memory of this host's TIME_WAIT entries, when the entry size is known.
    pub client_memory_bytes: Option<u64>,
    /// Kernel memory of the server's TIME_WAIT entries per destination.
    pub server_memory_bytes_per_destination: Option<u64>,
    /// What would make it fit, with numbers.
    pub fixes: Fixes,
}

/// The fixes, each with the figure that makes connections fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fixes {
    /// Requests per connection a pool must reach so that the TIME_WAIT
    /// ports fit (`None` with no usable port).
    pub requests_per_connection: Option<u64>,
    /// Under `peer-first`: TIME_WAIT entries the server holds per destination
    /// (this host holds none).
    pub peer_first_server_time_wait: u64,
    /// Source IPs needed, with IP_BIND_ADDRESS_NO_PORT (`None` with no usable port).
    pub source_ips: Option<u64>,
    /// A port range that would fit alone (`None` when even 1024-65535 is too narrow).
    pub port_range: Option<PortRangeFix>,
    /// Ports needed per destination with `tcp_tw_reuse=1` (a port is taken
    /// back about 1 s after its connection's last segment).
    pub tw_reuse_ports_needed: u64,
    /// Whether that fits the capacity.
    pub tw_reuse_fits: bool,
}

/// A wider ephemeral range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRangeFix {
    /// Its low end.
    pub low: u16,
    /// Its high end, 65535.
    pub high: u16,
    /// Its usable ports (less the reserved ones inside it).
    pub usable: u32,
}

/// The lowest port a suggested range starts at: below it are the
/// privileged ports.
pub const LOWEST_SUGGESTED_PORT: u16 = 1024;

/// ⌈a ÷ b⌉ for b > 0.
fn ceil_div(a: u128, b: u128) -> u128 {
    a / b + u128::from(a % b != 0)
}

fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Plan {
    /// Computes the plan. Pure; saturates where a count would not fit.
    ///
    /// ```
    /// use timewait_cli::plan::{Plan, PlanInput};
    ///
    /// let input = PlanInput::linux_defaults(1000);
    /// let plan = Plan::compute(&input);
    /// assert_eq!(plan.capacity, 28_232);
    /// assert_eq!(format!("{:.2}", plan.sustained_rate), "470.53");
    /// assert_eq!(plan.ports_needed, 60_000);
    /// assert!(plan.connect_fails);
    /// assert_eq!(plan.fixes.requests_per_connection, Some(3));
    /// ```
    pub fn compute(input: &PlanInput) -> Plan {
        let rpc = u128::from(input.requests_per_connection.max(1));
        let time_wait = u128::from(input.time_wait_secs.max(1));
        let rate = u128::from(input.rate);
        let destinations = u128::from(input.destinations.max(1));
        let usable = input.usable_ports();
        let capacity = u64::from(usable).saturating_mul(input.source_ips.max(1));
        let entries = |hold: u128| saturate(ceil_div(rate.saturating_mul(hold), rpc));
        let per_destination = entries(time_wait);
        let total = saturate(u128::from(per_destination).saturating_mul(destinations));

        let lands_on = match input.close_policy {
            ClosePolicy::Local => Side::Client,
            ClosePolicy::PeerFirst => Side::Server,
            ClosePolicy::Abort => Side::Nobody,
        };
        let (client_per_destination, server_per_destination) = match lands_on {
            Side::Client => (per_destination, 0),
            Side::Server => (0, per_destination),
            Side::Nobody => (0, 0),
        };
        let client_total = saturate(u128::from(client_per_destination) * destinations);

        let tw_reuse_applies = input.tw_reuse_applies();
        let port_hold_seconds = match lands_on {
            Side::Client if tw_reuse_applies => 1,
            Side::Client => input.time_wait_secs.max(1),
            Side::Server | Side::Nobody => 0,
        };
        let ports_needed = entries(u128::from(port_hold_seconds));
        let bucket_share = input.max_tw_buckets / input.destinations.max(1);
        let ports_held = ports_needed.min(bucket_share);
        let connect_fails = ports_held > capacity;
        let connections_per_second = input.rate as f64 / rpc as f64;
        let seconds_until_failure = connect_fails.then(|| capacity as f64 / connections_per_second);
        let memory = |n: u64| input.tw_entry_bytes.map(|b| b.saturating_mul(n));

        let fixes = Fixes::compute(input, usable, capacity, rate, time_wait, rpc);
        Plan {
            connections_per_second,
            usable_ports: usable,
            capacity,
            sustained_rate: capacity as f64 / time_wait as f64,
            lands_on,
            time_wait_per_destination: per_destination,
            time_wait_total: total,
            client_time_wait_per_destination: client_per_destination,
            client_time_wait_total: client_total,
            server_time_wait_per_destination: server_per_destination,
            tw_reuse_applies,
            port_hold_seconds,
            ports_needed,
            ports_held,
            buckets_overflow: client_total > input.max_tw_buckets,
            server_buckets_overflow: server_per_destination > input.max_tw_buckets,
            connect_fails,
            seconds_until_failure,
            client_memory_bytes: memory(client_total),
            server_memory_bytes_per_destination: memory(server_per_destination),
            fixes,
        }
    }
}

impl Fixes {
    fn compute(
        input: &PlanInput,
        usable: u32,
        capacity: u64,
        rate: u128,
        time_wait: u128,
        rpc: u128,
    ) -> Fixes {
        let in_time_wait = rate.saturating_mul(time_wait);
        let needed = ceil_div(in_time_wait, rpc);
        let requests_per_connection =
            (capacity > 0).then(|| saturate(ceil_div(in_time_wait, u128::from(capacity)).max(1)));
        let source_ips =
            (usable > 0).then(|| saturate(ceil_div(needed, u128::from(usable)).max(1)));
        let per_ip = ceil_div(needed, u128::from(input.source_ips.max(1)));
        let tw_reuse_ports_needed = saturate(ceil_div(rate, rpc));
        Fixes {
            requests_per_connection,
            peer_first_server_time_wait: saturate(needed),
            source_ips,
            port_range: wider_range(input, per_ip),
            tw_reuse_ports_needed,
            tw_reuse_fits: tw_reuse_ports_needed <= capacity,
        }
    }
}

/// The narrowest range ending at 65535 whose usable ports (less the
/// reserved ones) reach `needed`, starting no lower than 1024.
fn wider_range(input: &PlanInput, needed: u128) -> Option<PortRangeFix> {
    let high = u16::MAX;
    let mut low = high;
    // The reserved ports inside the range grow as it widens: widen until
    // the usable ports reach `needed` (each step adds what was missing, so
    // this ends within as many steps as there are reserved ranges, plus one).
    loop {
        let range = timewait_core::budget::PortRange::new(low, high).ok()?;
        let usable = range
            .len()
            .saturating_sub(input.reserved_ports.count_within(range));
        if u128::from(usable) >= needed {
            return Some(PortRangeFix { low, high, usable });
        }
        let missing = needed - u128::from(usable);
        let next = u128::from(low).saturating_sub(missing);
        if low == LOWEST_SUGGESTED_PORT || next < u128::from(LOWEST_SUGGESTED_PORT) {
            if low == LOWEST_SUGGESTED_PORT {
                return None;
            }
            low = LOWEST_SUGGESTED_PORT;
        } else {
            low = u16::try_from(next).ok()?;
        }
    }
}
