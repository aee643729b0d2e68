//! Where this machine's TIME_WAIT is, and what the port budget allows.
//!
//! Prints, for the current network namespace: the ephemeral port range and
//! the reserved ports, `tcp_tw_reuse`, the sustained rate of new connections
//! to one destination when the client closes first (usable ports / 60 s), the
//! namespace's TIME_WAIT total (`/proc/net/sockstat`), and the TIME_WAIT
//! sockets grouped by remote endpoint and by local port, largest groups first,
//! from a sock_diag census (the interface `ss` uses).
//!
//! ```text
//! cargo run --example census -- --top 5
//! cargo run --example census -- --port 443 --json
//! ```
//!
//! `--port P` keeps the sockets whose local or remote port is P; the counts
//! match `ss -Htan state time-wait '( sport = :P or dport = :P )' | wc -l`.
//! Linux only.

#[cfg(target_os = "linux")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the census reads the Linux kernel: run it on Linux");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::net::SocketAddr;
    use std::time::Duration;

    use clap::Parser;
    use serde_json::json;
    use timewait::core::sys::{self, Census, SocketEntry, Source, TwReuse};

    /// Where this machine's TIME_WAIT is, and what the port budget allows.
    #[derive(Debug, Parser)]
    struct Args {
        /// How many groups to show in each table.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        json: bool,
        /// Keep only sockets whose local or remote port is this one.
        #[arg(long)]
        port: Option<u16>,
    }

    /// One group of TIME_WAIT entries.
    struct Group<K> {
        key: K,
        count: usize,
        /// The soonest end of TIME_WAIT in the group: when a port frees.
        next_release: Option<Duration>,
    }

    /// Groups `entries` by `key`, largest groups first, then by key.
    fn group_by<K: Hash + Eq + Ord + Copy>(
        entries: &[SocketEntry],
        key: impl Fn(&SocketEntry) -> K,
    ) -> Vec<Group<K>> {
        let mut groups: HashMap<K, Group<K>> = HashMap::new();
        for entry in entries {
            let k = key(entry);
            let group = groups.entry(k).or_insert(Group {
                key: k,
                count: 0,
                next_release: None,
            });
            group.count += 1;
            let left = entry.time_wait_remaining();
            group.next_release = match (group.next_release, left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let mut groups: Vec<_> = groups.into_values().collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        groups
    }

    fn millis(d: Option<Duration>) -> Option<u128> {
        d.map(|d| d.as_millis())
    }

    fn source_name(source: Source) -> &'static str {
        match source {
            Source::SockDiag => "sock_diag",
            Source::ProcNet => "/proc/net/tcp",
            Source::Auto => "auto",
        }
    }

    pub(super) fn main() -> Result<(), Box<dyn std::error::Error>> {
        let args = Args::parse();
        let range = sys::ip_local_port_range()?;
        let reserved = sys::ip_local_reserved_ports()?;
        let mut reserved_list = Vec::new();
        for range in reserved.ranges() {
            reserved_list.push(range.to_string());
        }
        let reserved = reserved_list;
        let reuse = sys::tcp_tw_reuse()?;
        let max_buckets = sys::tcp_max_tw_buckets()?;
        let fin_timeout = sys::tcp_fin_timeout()?;
        let budget = sys::port_budget()?;
        let total = sys::time_wait_total()?;

        let mut census = Census::time_wait();
        if let Some(port) = args.port {
            census = census.port(port);
        }
        let report = census.run()?;
        let entries = report.entries();
        let by_remote = group_by(entries, |e| e.remote);
        let by_local_port = group_by(entries, |e| e.local.port());
        let reuses = |remote: SocketAddr| reuse.reuses_for(remote.ip());

        if args.json {
            let out = json!({
                "ip_local_port_range": range.to_string(),
                "ip_local_reserved_ports": reserved,
                "tcp_tw_reuse": reuse.value(),
                "tcp_max_tw_buckets": max_buckets,
                "tcp_fin_timeout_secs": fin_timeout.as_secs(),
                "usable_ports": budget.usable_ports(),
                "sustained_rate_per_destination": budget.sustained_rate(),
                "time_wait_total": total,
                "census": {
                    "source": source_name(report.source()),
                    "port": args.port,
                    "time_wait": entries.len(),
                    "by_remote": by_remote.iter().take(args.top).map(|g| json!({
                        "remote": g.key.to_string(),
                        "count": g.count,
                        "next_release_ms": millis(g.next_release),
                        "tw_reuse_applies": reuses(g.key),
                    })).collect::<Vec<_>>(),
                    "by_local_port": by_local_port.iter().take(args.top).map(|g| json!({
                        "local_port": g.key,
                        "count": g.count,
                        "next_release_ms": millis(g.next_release),
                    })).collect::<Vec<_>>(),
                },
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(());
        }

        let reuse_text = match reuse {
            TwReuse::Disabled => "0 (never)",
            TwReuse::Enabled => "1 (any destination, with timestamps)",
            TwReuse::LoopbackOnly => "2 (loopback only)",
        };
        println!("ephemeral ports        {range}");
        let reserved_text = if reserved.is_empty() {
            "none".to_owned()
        } else {
            reserved.join(",")
        };
        println!("reserved ports         {reserved_text}");
        println!("usable ports           {}", budget.usable_ports());
        println!(
            "sustained rate         {:.0} new connections/s per destination (client closes first)",
            budget.sustained_rate()
        );
        println!("tcp_tw_reuse           {reuse_text}");
        println!("tcp_max_tw_buckets     {max_buckets}");
        println!(
            "tcp_fin_timeout        {} s (FIN_WAIT_2 of orphans, not TIME_WAIT)",
            fin_timeout.as_secs()
        );
        println!("TIME_WAIT, namespace   {total} (sockstat)");
        let filter = args.port.map_or(String::new(), |p| format!(", port {p}"));
        println!(
            "TIME_WAIT, census      {} ({}{filter})",
            entries.len(),
            source_name(report.source())
        );

        println!(
            "\n{:<46} {:>7} {:>13} {:>9}",
            "remote endpoint", "count", "next release", "tw_reuse"
        );
        for g in by_remote.iter().take(args.top) {
            let next = millis(g.next_release).map_or("-".into(), |ms| format!("{ms} ms"));
            let applies = if reuses(g.key) { "yes" } else { "no" };
            println!(
                "{:<46} {:>7} {:>13} {:>9}",
                g.key.to_string(),
                g.count,
                next,
                applies
            );
        }
        println!(
            "\n{:<12} {:>7} {:>13}",
            "local port", "count", "next release"
        );
        for g in by_local_port.iter().take(args.top) {
            let next = millis(g.next_release).map_or("-".into(), |ms| format!("{ms} ms"));
            println!("{:<12} {:>7} {:>13}", g.key, g.count, next);
        }
        Ok(())
    }
}
