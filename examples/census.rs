//! Where this machine's TIME_WAIT is, and what the port budget allows.
//!
//! Prints, for the current network namespace, what `timewait census` prints
//! (the example is a thin caller of `timewait-cli`'s library): the ephemeral
//! port range and the reserved ports, `tcp_tw_reuse`, the sustained rate of
//! new connections to one destination when the client closes first (usable
//! ports / 60 s), the namespace's TIME_WAIT total (`/proc/net/sockstat`),
//! and the TIME_WAIT sockets grouped by remote endpoint and by local port,
//! largest groups first, from a sock_diag census (the interface `ss` uses).
//!
//! ```text
//! cargo run --example census -- --top 5
//! cargo run --example census -- --port 443 --json
//! ```
//!
//! `--port P` keeps the sockets whose local or remote port is P; the counts
//! match `ss -Htan state time-wait '( sport = :P or dport = :P )' | wc -l`.
//! Linux only: elsewhere it fails with one line.

use clap::Parser;
use timewait_cli::cli::{CensusArgs, Cli, Command};

/// Where this machine's TIME_WAIT is, and what the port budget allows.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    census: CensusArgs,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli {
        command: Command::Census(Args::parse().census),
    };
    timewait_cli::run(&cli, &mut std::io::stdout().lock())?;
    Ok(())
}
