//! `timewait`, the operators' tool: where this host's TCP TIME_WAIT is, how
//! fast it grows toward each destination, and what a connection rate needs.
//!
//! ```text
//! timewait census [--port P] [--top N] [--json]
//! timewait watch [--interval 1s] [--once] [--top N] [--json]
//! timewait plan --rate R [--destinations D] [--source-ips S] [--requests-per-connection N]
//!               [--close-policy peer-first|local|abort] [--port-range LOW-HIGH] [--tw-reuse 0|1|2]
//!               [--max-tw-buckets N] [--time-wait SECS] [--json]
//! ```
//!
//! The binary is a thin shell over this library, one idea a module:
//!
//! - [`cli`]: the flags and their parsers; a bad value is a usage error (exit 2).
//! - [`census`]: TIME_WAIT grouped by remote endpoint and by local port
//!   ([`group`]), beside the port budget ([`kernel`]).
//! - [`snapshot`], [`exhaustion`], [`watch`]: successive sock_diag
//!   snapshots, new TIME_WAIT entries told apart by their time left, and
//!   when `connect()` runs out of ports at the current rate.
//! - [`plan`]: the port arithmetic of a connection rate; [`slab`] measures
//!   the kernel's bytes per TIME_WAIT entry.
//! - [`error`]: one-line errors that say what to do, and exit codes.
//!
//! The census, watch and the live sysctls read the Linux kernel (through
//! `timewait_core::sys`); elsewhere those commands fail with one line, and
//! `plan` works when every kernel value is given as a flag.

// Library code never unwraps what a user or the kernel controls; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
pub mod census;
pub mod cli;
pub mod error;
pub mod exhaustion;
pub mod fmt;
#[cfg(target_os = "linux")]
pub mod group;
#[cfg(target_os = "linux")]
pub mod kernel;
pub mod plan;
pub mod slab;
pub mod snapshot;
pub mod watch;

use std::io::Write;

use cli::{Cli, Command, PlanArgs};
use error::CliError;

/// Runs the command `cli` names, writing its output to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match &cli.command {
        Command::Census(args) => census_command(args, out),
        Command::Watch(args) => watch_command(args, out),
        Command::Plan(args) => plan_command(args, out),
    }
}

#[cfg(target_os = "linux")]
fn census_command(args: &cli::CensusArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let view = census::take(args)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &view)?;
        writeln!(out)?;
    } else {
        view.write_text(out)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn census_command(_: &cli::CensusArgs, _: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::NotLinux {
        command: "census",
        hint: "",
    })
}

#[cfg(target_os = "linux")]
fn watch_command(args: &cli::WatchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    watch::run::run(args, out)
}

#[cfg(not(target_os = "linux"))]
fn watch_command(_: &cli::WatchArgs, _: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::NotLinux {
        command: "watch",
        hint: "",
    })
}

fn plan_command(args: &PlanArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (input, settings) = plan::input::resolve(args)?;
    let result = plan::Plan::compute(&input);
    if args.json {
        let document = plan::render::PlanDocument {
            workload: plan::render::Workload::of(&input),
            settings: &settings,
            plan: &result,
        };
        serde_json::to_writer_pretty(&mut *out, &document)?;
        writeln!(out)?;
    } else {
        plan::render::text(out, &input, &settings, &result)?;
    }
    out.flush()?;
    Ok(())
}
