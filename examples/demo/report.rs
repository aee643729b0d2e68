//! What the demo prints: the table, the port budget of this machine, and a
//! reading of the table computed from its numbers.

use std::io::{self, Write};

use timewait::core::budget::{PortBudget, TwReuse};
use timewait::core::sys;

use crate::scenario::{Row, Scenario};

/// Writes the rows as a table.
pub(crate) fn write_table(out: &mut dyn Write, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>8} {:>6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "scenario",
        "requests",
        "errors",
        "seconds",
        "req/s",
        "p50 µs",
        "p99 µs",
        "connects",
        "client TW",
        "server TW"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<20} {:>8} {:>6} {:>8.2} {:>9.0} {:>8} {:>8} {:>8} {:>10} {:>10}",
            row.scenario,
            row.requests,
            row.errors,
            row.seconds,
            row.req_per_sec,
            row.p50_us,
            row.p99_us,
            row.connects,
            row.client_time_wait,
            row.server_time_wait
        )?;
    }
    Ok(())
}

/// The kernel settings that decide what client-side TIME_WAIT costs, each
/// with the reason it could not be read instead, if so.
#[derive(Debug)]
pub(crate) struct Budget {
    ports: Result<PortBudget, String>,
    tw_reuse: Result<TwReuse, String>,
}

impl Budget {
    /// Reads this network namespace's settings.
    pub(crate) fn read() -> Budget {
        Budget {
            ports: sys::port_budget().map_err(|e| e.to_string()),
            tw_reuse: sys::tcp_tw_reuse().map_err(|e| e.to_string()),
        }
    }

    /// Writes the budget, "unknown" and the reason for what is unreadable.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "port budget of this machine")?;
        match &self.ports {
            Ok(budget) => {
                let range = budget.range();
                let reserved = budget.reserved().count_within(range);
                writeln!(
                    out,
                    "  ephemeral ports   {range}: {} usable ({reserved} reserved)",
                    budget.usable_ports()
                )?;
                writeln!(
                    out,
                    "  ceiling           {:.0} new connections/s per destination when the client closes first ({} ports / {} s of TIME_WAIT)",
                    budget.sustained_rate(),
                    budget.usable_ports(),
                    budget.time_wait().as_secs()
                )?;
            }
            Err(reason) => {
                writeln!(out, "  ephemeral ports   unknown: {reason}")?;
                writeln!(out, "  ceiling           unknown: it needs the port range")?;
            }
        }
        match &self.tw_reuse {
            Ok(reuse) => writeln!(
                out,
                "  tcp_tw_reuse      {}: {}",
                reuse.value(),
                reuse_meaning(*reuse)
            ),
            Err(reason) => writeln!(out, "  tcp_tw_reuse      unknown: {reason}"),
        }
    }
}

fn reuse_meaning(reuse: TwReuse) -> &'static str {
    match reuse {
        TwReuse::Disabled => "connect() never reuses its own TIME_WAIT ports",
        TwReuse::Enabled => {
            "connect() reuses its own TIME_WAIT ports toward any destination (with timestamps)"
        }
        TwReuse::LoopbackOnly => "connect() reuses its own TIME_WAIT ports toward loopback only",
    }
}

/// One sentence reading the table, every number taken from it or the budget.
pub(crate) fn reading(rows: &[Row], budget: &Budget) -> String {
    let find = |s: Scenario| rows.iter().find(|r| r.scenario == s.name());
    let mut parts = Vec::new();

    let plain = find(Scenario::ConnectPerRequest);
    if let Some(r) = plain {
        parts.push(connect_per_request(r, budget));
    }
    if let Some(r) = find(Scenario::PoolLocal) {
        parts.push(format!(
            "pool-local closed its {} connections itself and left {} on the client, {} on the server",
            grouped(r.connects),
            grouped(r.client_time_wait as u64),
            grouped(r.server_time_wait as u64)
        ));
    }
    if let Some(r) = find(Scenario::PoolPeerFirst) {
        parts.push(
            if r.server_time_wait as u64 == r.connects && r.client_time_wait == 0 {
                format!(
                    "pool-peer-first made {} connections and left all {} on the server, none on the client",
                    grouped(r.connects),
                    grouped(r.server_time_wait as u64)
                )
            } else {
                format!(
                    "pool-peer-first made {} connections and left {} on the server and {} on the client",
                    grouped(r.connects),
                    grouped(r.server_time_wait as u64),
                    grouped(r.client_time_wait as u64)
                )
            },
        );
    }
    if let Some(r) = plain.filter(|r| r.req_per_sec > 0.0) {
        let pooled: Vec<String> = [Scenario::PoolLocal, Scenario::PoolPeerFirst]
            .into_iter()
            .filter_map(find)
            .map(|p| format!("{:.1}×", p.req_per_sec / r.req_per_sec))
            .collect();
        if !pooled.is_empty() {
            parts.push(format!(
                "the pools served {} connect-per-request's requests per second",
                pooled.join(" and ")
            ));
        }
    }
    format!("In this run, {}.", parts.join("; "))
}

/// What connect-per-request's client-side count says, given the budget.
fn connect_per_request(r: &Row, budget: &Budget) -> String {
    let left = format!(
        "connect-per-request made {} connections and left {} TIME_WAIT entries on the client",
        grouped(r.connects),
        grouped(r.client_time_wait as u64)
    );
    let ports = budget.ports.as_ref().ok();
    let reuse = budget.tw_reuse.as_ref().ok().copied();
    let reuse_name = match reuse {
        Some(TwReuse::LoopbackOnly) => "loopback's tcp_tw_reuse=2",
        Some(TwReuse::Enabled) => "tcp_tw_reuse=1",
        Some(TwReuse::Disabled) => {
            return match ports {
                Some(p) => format!(
                    "{left}, one port each: with tcp_tw_reuse=0, connect() fails with EADDRNOTAVAIL past {} such connections a minute",
                    grouped(u64::from(p.usable_ports()))
                ),
                None => format!("{left}, one port each, and tcp_tw_reuse=0 recycles none"),
            };
        }
        None => "tcp_tw_reuse",
    };
    let (made, left_tw) = (r.connects, r.client_time_wait as u64);
    let Some(half) = ports.map(|p| u64::from(p.usable_ports() / 2)) else {
        return format!("{left}, until {reuse_name} recycles them");
    };
    // connect() tries the even ports first, each search starting a little
    // past the last; it meets its own TIME_WAIT entries toward the server
    // only after going round the range, and tcp_tw_reuse lets it take one
    // over once it is about a second old.
    let recycling = if left_tw >= made {
        format!(
            "one per request; {reuse_name} recycles an entry only once connect() comes back round to its port and it is about a second old, so in longer runs the count levels off near the {} even ports of the range, which connect() tries first",
            grouped(half)
        )
    } else if left_tw <= half + half / 100 {
        format!(
            "not one per request: {reuse_name} let connect() take over {} of its own entries once they were about a second old, and the count levels off near the {} even ports of the range, which connect() tries first",
            grouped(made - left_tw),
            grouped(half)
        )
    } else {
        format!(
            "more than the {} even ports connect() tries first, because entries younger than about a second, which {reuse_name} does not recycle, had filled those and connect() went on to the odd ports",
            grouped(half)
        )
    };
    let elsewhere = match (reuse, ports) {
        (Some(TwReuse::LoopbackOnly), Some(p)) => format!(
            " (toward another host it does not apply, and a client that closes first is held to about {:.0} new connections a second)",
            p.sustained_rate()
        ),
        _ => String::new(),
    };
    format!("{left}, {recycling}{elsewhere}")
}

/// `n` with a comma between groups of three digits: 14,116.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
