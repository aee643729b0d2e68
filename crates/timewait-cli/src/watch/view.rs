//! One `watch` view, from a snapshot and (for rates) the one before it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use timewait_core::DEFAULT_TIME_WAIT;
use timewait_core::budget::{PortBudget, TwReuse};

use crate::exhaustion::{Exhaustion, time_to_exhaustion};
use crate::snapshot::Snapshot;

/// What one refresh of `watch` shows; its JSON form is `--json`'s output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchView {
    /// Milliseconds between the two snapshots the rates come from; `None`
    /// (and every rate `None`) with a single snapshot.
    pub elapsed_ms: Option<u64>,
    /// `sock_diag` or `/proc/net/tcp`.
    pub source: &'static str,
    /// Ports per source IP: range less reserved.
    pub usable_ports: u32,
    /// `tcp_tw_reuse`.
    pub tcp_tw_reuse: u8,
    /// The TIME_WAIT length the estimates use, seconds.
    pub time_wait_secs: u64,
    /// TIME_WAIT entries on this host's client side (local port not listening).
    pub client_time_wait: usize,
    /// TIME_WAIT entries on its server side (local port listening).
    pub server_time_wait: usize,
    /// Destinations with client-side sockets, shown or not.
    pub destinations_total: usize,
    /// The destinations, most endangered first (at most `--top`).
    pub destinations: Vec<DestinationRow>,
    /// The listening ports, by port.
    pub listening: Vec<ListenRow>,
}

/// One destination (remote endpoint) of this host's client-side sockets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestinationRow {
    /// `ip:port`.
    pub remote: String,
    /// Local addresses used toward it: each has the whole port range.
    pub source_ips: usize,
    /// Client-side TIME_WAIT entries toward it.
    pub time_wait: usize,
    /// ESTABLISHED connections toward it.
    pub established: usize,
    /// Connections in other states that hold a port (SYN_SENT, FIN_WAIT…).
    pub other_open: usize,
    /// Ports toward it: usable ports × source IPs.
    pub ports: u64,
    /// Ports not held: `ports` less the three counts above.
    pub headroom: u64,
    /// New TIME_WAIT entries since the previous snapshot.
    pub new_time_wait: Option<usize>,
    /// New TIME_WAIT entries per second.
    pub rate_per_second: Option<f64>,
    /// Whether `tcp_tw_reuse` lets `connect()` take its TIME_WAIT ports back.
    pub tw_reuse_applies: bool,
    /// `now`, `in`, `never` (the rate fits), `reuse` (TIME_WAIT ports are
    /// reused), or `unknown` (no rate yet).
    pub exhaustion: &'static str,
    /// Seconds until `connect()` fails, for `in` (0 for `now`).
    pub exhaustion_secs: Option<f64>,
}

/// One listening port, and who holds the TIME_WAIT of its connections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenRow {
    /// The port.
    pub port: u16,
    /// TIME_WAIT entries on this port's side (this host as the server).
    pub server_time_wait: usize,
    /// TIME_WAIT entries of this host's own clients toward the port.
    pub client_time_wait: usize,
    /// New server-side entries since the previous snapshot.
    pub new_server_time_wait: Option<usize>,
    /// New server-side entries per second.
    pub server_rate_per_second: Option<f64>,
    /// `server`, `client`, `both` or `none`.
    pub held_by: &'static str,
}

#[derive(Default)]
struct Destination {
    sources: BTreeSet<IpAddr>,
    remaining: Vec<Duration>,
    new: usize,
    established: usize,
    other: usize,
}

#[derive(Default)]
struct Listener {
    server: usize,
    client: usize,
    new_server: usize,
}

impl WatchView {
    /// The view of `now`, with rates from `earlier` when given; at most
    /// `top` destinations.
    pub fn build(
        now: &Snapshot,
        earlier: Option<&Snapshot>,
        budget: &PortBudget,
        reuse: TwReuse,
        source: &'static str,
        top: usize,
    ) -> WatchView {
        let mut destinations: HashMap<SocketAddr, Destination> = HashMap::new();
        let mut listeners: BTreeMap<u16, Listener> = now
            .listening
            .iter()
            .map(|&p| (p, Listener::default()))
            .collect();
        let (mut client_tw, mut server_tw) = (0, 0);
        for (tuple, remaining) in &now.time_wait {
            let (local, remote) = *tuple;
            let new = earlier.is_some_and(|e| Snapshot::is_new_since(e, tuple, *remaining));
            if now.is_server_side(local) {
                server_tw += 1;
                if let Some(l) = listeners.get_mut(&local.port()) {
                    l.server += 1;
                    l.new_server += usize::from(new);
                }
                continue;
            }
            client_tw += 1;
            if let Some(l) = listeners.get_mut(&remote.port()) {
                l.client += 1;
            }
            let d = destinations.entry(remote).or_default();
            d.sources.insert(local.ip());
            d.remaining.push(remaining.unwrap_or(Duration::ZERO));
            d.new += usize::from(new);
        }
        for &((local, remote), established) in &now.open {
            if now.is_server_side(local) {
                continue;
            }
            let d = destinations.entry(remote).or_default();
            d.sources.insert(local.ip());
            if established {
                d.established += 1;
            } else {
                d.other += 1;
            }
        }
        let elapsed = earlier.map(|e| now.since(e));
        let per_second = |count: usize| {
            elapsed
                .filter(|e| !e.is_zero())
                .map(|e| count as f64 / e.as_secs_f64())
        };
        let destinations_total = destinations.len();
        let mut rows: Vec<DestinationRow> = destinations
            .into_iter()
            .map(|(remote, mut d)| {
                let ports =
                    u64::from(budget.usable_ports()).saturating_mul(d.sources.len().max(1) as u64);
                let open = (d.established + d.other) as u64;
                let held = open.saturating_add(d.remaining.len() as u64);
                let rate = per_second(d.new);
                let applies = reuse.reuses_for(remote.ip());
                let time_wait = d.remaining.len();
                let (exhaustion, secs) = if applies {
                    if open >= ports {
                        ("now", Some(0.0))
                    } else {
                        ("reuse", None)
                    }
                } else if held >= ports {
                    ("now", Some(0.0))
                } else {
                    match rate {
                        None => ("unknown", None),
                        Some(r) => match time_to_exhaustion(
                            ports,
                            open,
                            &mut d.remaining,
                            r,
                            DEFAULT_TIME_WAIT,
                        ) {
                            Exhaustion::Now => ("now", Some(0.0)),
                            Exhaustion::In(t) => ("in", Some(t.as_secs_f64())),
                            Exhaustion::Never => ("never", None),
                        },
                    }
                };
                DestinationRow {
                    remote: remote.to_string(),
                    source_ips: d.sources.len(),
                    time_wait,
                    established: d.established,
                    other_open: d.other,
                    ports,
                    headroom: ports.saturating_sub(held),
                    new_time_wait: elapsed.map(|_| d.new),
                    rate_per_second: rate,
                    tw_reuse_applies: applies,
                    exhaustion,
                    exhaustion_secs: secs,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            danger(a).total_cmp(&danger(b)).then_with(|| {
                a.headroom
                    .cmp(&b.headroom)
                    .then_with(|| a.remote.cmp(&b.remote))
            })
        });
        rows.truncate(top);
        let listening = listeners
            .into_iter()
            .map(|(port, l)| ListenRow {
                port,
                server_time_wait: l.server,
                client_time_wait: l.client,
                new_server_time_wait: elapsed.map(|_| l.new_server),
                server_rate_per_second: per_second(l.new_server),
                held_by: match (l.server > 0, l.client > 0) {
                    (true, true) => "both",
                    (true, false) => "server",
                    (false, true) => "client",
                    (false, false) => "none",
                },
            })
            .collect();
        WatchView {
            elapsed_ms: elapsed.map(|e| u64::try_from(e.as_millis()).unwrap_or(u64::MAX)),
            source,
            usable_ports: budget.usable_ports(),
            tcp_tw_reuse: reuse.value(),
            time_wait_secs: DEFAULT_TIME_WAIT.as_secs(),
            client_time_wait: client_tw,
            server_time_wait: server_tw,
            destinations_total,
            destinations: rows,
            listening,
        }
    }
}

/// The sort key of a row: seconds to exhaustion, then the rows whose
/// exhaustion is not a time, the least known first.
fn danger(row: &DestinationRow) -> f64 {
    const LATER: f64 = 1e12;
    match row.exhaustion {
        "now" | "in" => row.exhaustion_secs.unwrap_or(0.0),
        "unknown" => LATER,
        "never" => LATER * 2.0,
        _ => LATER * 3.0,
    }
}
