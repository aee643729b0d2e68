//! `timewait census`: where this namespace's TIME_WAIT is, grouped by
//! destination (remote endpoint) and by local port, beside the port budget.
//!
//! What `examples/census.rs` prints, as a library: [`CensusView::build`] is
//! pure over the kernel's facts and the census's entries, so the example and
//! the tests can call it; [`take`] reads the kernel.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;

use serde::Serialize;
use timewait_core::budget::TwReuse;
use timewait_core::sys::{Census, SocketEntry, Source};

use crate::cli::CensusArgs;
use crate::error::CliError;
use crate::group::{group_by, millis};
use crate::kernel::{KernelFacts, listening_ports, source_name};

/// Everything `timewait census` prints; its JSON form is `--json`'s output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CensusView {
    /// `LOW-HIGH`.
    pub ip_local_port_range: String,
    /// Reserved ranges, `LOW-HIGH` each.
    pub ip_local_reserved_ports: Vec<String>,
    /// `tcp_tw_reuse`: 0, 1 or 2.
    pub tcp_tw_reuse: u8,
    /// `tcp_max_tw_buckets`.
    pub tcp_max_tw_buckets: u64,
    /// `tcp_fin_timeout` in seconds (FIN_WAIT_2 of orphans, not TIME_WAIT).
    pub tcp_fin_timeout_secs: u64,
    /// Range less reserved ports.
    pub usable_ports: u32,
    /// New connections per second per destination when this host closes first.
    pub sustained_rate_per_destination: f64,
    /// The namespace's TIME_WAIT total (`/proc/net/sockstat`).
    pub time_wait_total: u64,
    /// The census's own counts.
    pub census: CensusPart,
}

/// The census part of [`CensusView`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CensusPart {
    /// `sock_diag` or `/proc/net/tcp`.
    pub source: &'static str,
    /// Why sock_diag was not used, when the census fell back to `/proc`.
    pub fallback_reason: Option<String>,
    /// The `--port` filter.
    pub port: Option<u16>,
    /// TIME_WAIT entries that passed the filter.
    pub time_wait: usize,
    /// Of them, on the server's side (local port is a listening port).
    pub server_side: usize,
    /// Of them, on the client's side.
    pub client_side: usize,
    /// How many distinct remote endpoints.
    pub remotes: usize,
    /// The largest groups by remote endpoint (`--top`).
    pub by_remote: Vec<RemoteGroup>,
    /// The largest groups by local port (`--top`).
    pub by_local_port: Vec<LocalPortGroup>,
}

/// TIME_WAIT entries toward one remote endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteGroup {
    /// `ip:port`.
    pub remote: String,
    /// Entries.
    pub count: usize,
    /// Milliseconds until the first of them ends.
    pub next_release_ms: Option<u64>,
    /// Whether `tcp_tw_reuse` lets `connect()` take these ports back.
    pub tw_reuse_applies: bool,
}

/// TIME_WAIT entries on one local port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalPortGroup {
    /// The port.
    pub local_port: u16,
    /// Entries.
    pub count: usize,
    /// Milliseconds until the first of them ends.
    pub next_release_ms: Option<u64>,
    /// `server` when the port is a listening port, else `client`.
    pub side: &'static str,
}

impl CensusView {
    /// Builds the view from the kernel's facts and the TIME_WAIT `entries`
    /// (already filtered by `port`), given the listening ports.
    pub fn build(
        facts: &KernelFacts,
        entries: &[SocketEntry],
        listening: &BTreeSet<u16>,
        source: Source,
        fallback_reason: Option<String>,
        port: Option<u16>,
        top: usize,
    ) -> CensusView {
        let reuse: TwReuse = facts.tw_reuse;
        let by_remote = group_by(entries, |e| e.remote);
        let by_local_port = group_by(entries, |e| e.local.port());
        let server_side = entries
            .iter()
            .filter(|e| listening.contains(&e.local.port()))
            .count();
        let budget = &facts.budget;
        CensusView {
            ip_local_port_range: budget.range().to_string(),
            ip_local_reserved_ports: budget
                .reserved()
                .ranges()
                .iter()
                .map(ToString::to_string)
                .collect(),
            tcp_tw_reuse: reuse.value(),
            tcp_max_tw_buckets: facts.max_tw_buckets,
            tcp_fin_timeout_secs: facts.fin_timeout_secs,
            usable_ports: budget.usable_ports(),
            sustained_rate_per_destination: budget.sustained_rate(),
            time_wait_total: facts.time_wait_total,
            census: CensusPart {
                source: source_name(source),
                fallback_reason,
                port,
                time_wait: entries.len(),
                server_side,
                client_side: entries.len() - server_side,
                remotes: by_remote.len(),
                by_remote: by_remote
                    .iter()
                    .take(top)
                    .map(|g| RemoteGroup {
                        remote: g.key.to_string(),
                        count: g.count,
                        next_release_ms: millis(g.next_release),
                        tw_reuse_applies: reuse.reuses_for(SocketAddr::ip(&g.key)),
                    })
                    .collect(),
                by_local_port: by_local_port
                    .iter()
                    .take(top)
                    .map(|g| LocalPortGroup {
                        local_port: g.key,
                        count: g.count,
                        next_release_ms: millis(g.next_release),
                        side: if listening.contains(&g.key) {
                            "server"
                        } else {
                            "client"
                        },
                    })
                    .collect(),
            },
        }
    }

    /// Writes the view as text.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let reuse = match self.tcp_tw_reuse {
            0 => "0 (never)",
            1 => "1 (any destination, with timestamps)",
            _ => "2 (loopback only)",
        };
        let reserved = if self.ip_local_reserved_ports.is_empty() {
            "none".to_owned()
        } else {
            self.ip_local_reserved_ports.join(",")
        };
        let c = &self.census;
        writeln!(out, "ephemeral ports        {}", self.ip_local_port_range)?;
        writeln!(out, "reserved ports         {reserved}")?;
        writeln!(out, "usable ports           {}", self.usable_ports)?;
        writeln!(
            out,
            "sustained rate         {:.1} new connections/s per destination (client closes first)",
            self.sustained_rate_per_destination
        )?;
        writeln!(out, "tcp_tw_reuse           {reuse}")?;
        writeln!(out, "tcp_max_tw_buckets     {}", self.tcp_max_tw_buckets)?;
        writeln!(
            out,
            "tcp_fin_timeout        {} s (FIN_WAIT_2 of orphans, not TIME_WAIT)",
            self.tcp_fin_timeout_secs
        )?;
        writeln!(
            out,
            "TIME_WAIT, namespace   {} (sockstat)",
            self.time_wait_total
        )?;
        let filter = c.port.map_or(String::new(), |p| format!(", port {p}"));
        writeln!(
            out,
            "TIME_WAIT, census      {} ({}{filter}): {} server side, {} client side",
            c.time_wait, c.source, c.server_side, c.client_side
        )?;
        writeln!(
            out,
            "\n{:<46} {:>7} {:>13} {:>9}",
            "remote endpoint", "count", "next release", "tw_reuse"
        )?;
        let next = |ms: Option<u64>| ms.map_or("-".into(), |ms| format!("{ms} ms"));
        for g in &c.by_remote {
            let applies = if g.tw_reuse_applies { "yes" } else { "no" };
            writeln!(
                out,
                "{:<46} {:>7} {:>13} {:>9}",
                g.remote,
                g.count,
                next(g.next_release_ms),
                applies
            )?;
        }
        writeln!(
            out,
            "\n{:<12} {:>7} {:>13} {:>7}",
            "local port", "count", "next release", "side"
        )?;
        for g in &c.by_local_port {
            writeln!(
                out,
                "{:<12} {:>7} {:>13} {:>7}",
                g.local_port,
                g.count,
                next(g.next_release_ms),
                g.side
            )?;
        }
        Ok(())
    }
}

/// Reads the kernel and builds the view `args` ask for.
pub fn take(args: &CensusArgs) -> Result<CensusView, CliError> {
    let facts = KernelFacts::read()?;
    let mut census = Census::time_wait();
    if let Some(port) = args.port {
        census = census.port(port);
    }
    let report = census.run()?;
    let listening = listening_ports()?;
    Ok(CensusView::build(
        &facts,
        report.entries(),
        &listening,
        report.source(),
        report.fallback_reason().map(ToString::to_string),
        args.port,
        args.top,
    ))
}
