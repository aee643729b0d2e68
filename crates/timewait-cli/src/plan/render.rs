//! A plan as text, for a terminal, and as one JSON object.

use std::io::Write;

use serde::Serialize;

use super::input::{PlanInput, Settings};
use super::model::{Plan, Side};
use crate::cli::ClosePolicy;
use crate::fmt::{bytes, rate, seconds, thousands};

/// The JSON document `timewait plan --json` prints.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    /// The workload, as given.
    pub workload: Workload,
    /// The kernel settings used, and where each came from.
    pub settings: &'a Settings,
    /// The results.
    pub plan: &'a Plan,
}

/// The workload part of the JSON document.
#[derive(Debug, Serialize)]
pub struct Workload {
    /// Requests per second per destination.
    pub rate: u64,
    /// Destinations.
    pub destinations: u64,
    /// Source IPs.
    pub source_ips: u64,
    /// Requests per connection.
    pub requests_per_connection: u64,
    /// Who closes first.
    pub close_policy: ClosePolicy,
    /// Whether the destinations are loopback addresses.
    pub loopback: bool,
}

impl Workload {
    /// The workload of `input`.
    pub fn of(input: &PlanInput) -> Workload {
        Workload {
            rate: input.rate,
            destinations: input.destinations,
            source_ips: input.source_ips,
            requests_per_connection: input.requests_per_connection,
            close_policy: input.close_policy,
            loopback: input.loopback,
        }
    }
}

fn n(value: u64) -> String {
    thousands(value)
}

fn memory(b: Option<u64>) -> String {
    b.map_or_else(|| "memory unknown".to_owned(), bytes)
}

/// Writes the plan as text.
pub fn text(
    out: &mut dyn Write,
    input: &PlanInput,
    settings: &Settings,
    plan: &Plan,
) -> std::io::Result<()> {
    let policy = match input.close_policy {
        ClosePolicy::Local => "local: this host closes first",
        ClosePolicy::PeerFirst => "peer-first: the server closes first",
        ClosePolicy::Abort => "abort: this host resets (RST)",
    };
    let s = settings;
    writeln!(out, "workload")?;
    writeln!(
        out,
        "  rate                  {} requests/s per destination, {} per connection: {} new connections/s",
        n(input.rate),
        n(input.requests_per_connection),
        rate(plan.connections_per_second)
    )?;
    writeln!(
        out,
        "  destinations          {}, from {} source IP(s)",
        n(input.destinations),
        n(input.source_ips)
    )?;
    writeln!(out, "  close policy          {policy}")?;
    writeln!(out, "kernel")?;
    writeln!(
        out,
        "  port range            {} ({}), reserved {} ({}): {} usable ports",
        s.port_range.value,
        s.port_range.from,
        s.reserved_ports.value,
        s.reserved_ports.from,
        n(u64::from(plan.usable_ports))
    )?;
    let reuse_scope = match (s.tw_reuse.value, plan.tw_reuse_applies) {
        (0, _) => "off",
        (1, _) => "on, for any destination with TCP timestamps",
        (_, true) => "loopback only: applies, the destinations are loopback",
        (_, false) => "loopback only: does not apply to these destinations",
    };
    writeln!(
        out,
        "  tcp_tw_reuse          {} ({}): {reuse_scope}",
        s.tw_reuse.value, s.tw_reuse.from
    )?;
    writeln!(
        out,
        "  tcp_max_tw_buckets    {} ({})",
        n(s.max_tw_buckets.value),
        s.max_tw_buckets.from
    )?;
    writeln!(
        out,
        "  TIME_WAIT length      {} s ({})",
        s.time_wait_secs.value, s.time_wait_secs.from
    )?;
    let entry = s
        .tw_entry
        .bytes
        .map_or_else(|| "unknown".to_owned(), |b| format!("{b} bytes"));
    writeln!(out, "  TIME_WAIT entry       {entry} ({})", s.tw_entry.from)?;

    writeln!(out, "steady state, per destination")?;
    writeln!(
        out,
        "  ports available       {} ({} × {} source IP(s)): sustains {} new connections/s when this host closes first",
        n(plan.capacity),
        n(u64::from(plan.usable_ports)),
        n(input.source_ips),
        rate(plan.sustained_rate)
    )?;
    let hold = match plan.lands_on {
        Side::Client if plan.tw_reuse_applies => {
            "each held about 1 s, then tcp_tw_reuse takes it back".to_owned()
        }
        Side::Client => format!("each held {} s in TIME_WAIT", plan.port_hold_seconds),
        Side::Server => "none held here: the server keeps TIME_WAIT".to_owned(),
        Side::Nobody => "none held: reset connections leave no TIME_WAIT".to_owned(),
    };
    writeln!(
        out,
        "  ports needed          {} ({hold}), plus the open connections",
        n(plan.ports_needed)
    )?;
    match plan.lands_on {
        Side::Client => writeln!(
            out,
            "  TIME_WAIT lands on    this host: {} per destination, {} in all ({}); none on the server",
            n(plan.client_time_wait_per_destination),
            n(plan.client_time_wait_total),
            memory(plan.client_memory_bytes)
        )?,
        Side::Server => writeln!(
            out,
            "  TIME_WAIT lands on    the server: {} per destination ({} there); none here",
            n(plan.server_time_wait_per_destination),
            memory(plan.server_memory_bytes_per_destination)
        )?,
        Side::Nobody => writeln!(
            out,
            "  TIME_WAIT lands on    nobody: a delayed segment of an old connection can enter a new one with the same four-tuple"
        )?,
    }
    if plan.server_buckets_overflow {
        writeln!(
            out,
            "  server's buckets      overflow if its tcp_max_tw_buckets is {} as here: it would destroy entries early and log \"TCP: time wait bucket table overflow\"",
            n(s.max_tw_buckets.value)
        )?;
    }
    if plan.buckets_overflow {
        writeln!(
            out,
            "  tcp_max_tw_buckets    overflows: past {} entries the kernel destroys new ones at once and logs \"TCP: time wait bucket table overflow\"",
            n(s.max_tw_buckets.value)
        )?;
    }

    if plan.connect_fails {
        let after = plan.seconds_until_failure.map_or_else(String::new, |t| {
            format!(", {} after a cold start", seconds(t))
        });
        writeln!(
            out,
            "verdict: connect() fails with EADDRNOTAVAIL: {} ports needed, {} available{after}",
            n(plan.ports_held),
            n(plan.capacity)
        )?;
    } else if plan.ports_needed > plan.capacity {
        writeln!(
            out,
            "verdict: connect() keeps working only because tcp_max_tw_buckets destroys TIME_WAIT entries early ({} needed, {} available): TIME_WAIT's protection is lost",
            n(plan.ports_needed),
            n(plan.capacity)
        )?;
    } else {
        writeln!(
            out,
            "verdict: fits: {} of {} ports ({} free for open connections)",
            n(plan.ports_needed),
            n(plan.capacity),
            n(plan.capacity - plan.ports_needed)
        )?;
    }
    fixes(out, input, plan)
}

fn fixes(out: &mut dyn Write, input: &PlanInput, plan: &Plan) -> std::io::Result<()> {
    let f = &plan.fixes;
    if input.close_policy != ClosePolicy::Local {
        return Ok(());
    }
    writeln!(out, "fixes")?;
    match f.requests_per_connection {
        Some(rpc) => writeln!(
            out,
            "  reuse connections     a pool carrying {} requests per connection: {} new connections/s, within {}/s",
            n(rpc),
            rate(input.rate as f64 / rpc as f64),
            rate(plan.sustained_rate)
        )?,
        None => writeln!(
            out,
            "  reuse connections     no usable port: widen the range first"
        )?,
    }
    let there = input.tw_entry_bytes.map_or_else(String::new, |b| {
        format!(
            " ({} there)",
            bytes(b.saturating_mul(f.peer_first_server_time_wait))
        )
    });
    writeln!(
        out,
        "  server closes first   --close-policy peer-first: no TIME_WAIT here; the server holds {} per destination{there}",
        n(f.peer_first_server_time_wait)
    )?;
    if let Some(ips) = f.source_ips {
        writeln!(
            out,
            "  more source IPs       {} source IPs with IP_BIND_ADDRESS_NO_PORT: {} ports per destination",
            n(ips),
            n(ips.saturating_mul(u64::from(plan.usable_ports)))
        )?;
    }
    match f.port_range {
        Some(r) => writeln!(
            out,
            "  wider port range      net.ipv4.ip_local_port_range=\"{} {}\": {} usable ports per source IP",
            r.low,
            r.high,
            n(u64::from(r.usable))
        )?,
        None => writeln!(
            out,
            "  wider port range      not enough alone: even 1024-65535 holds fewer ports than needed"
        )?,
    }
    let fits = if f.tw_reuse_fits {
        "fits"
    } else {
        "still too many"
    };
    writeln!(
        out,
        "  tcp_tw_reuse=1        needs net.ipv4.tcp_timestamps=1 at both ends; takes a port back about 1 s after its last segment: {} ports, {fits} (2 = loopback only)",
        n(f.tw_reuse_ports_needed)
    )?;
    Ok(())
}
