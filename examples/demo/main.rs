//! Where TIME_WAIT lands when a client connects per request, when a pool
//! closes its own connections, and when a pool lets the server close first:
//! the same workload three ways, with the kernel as the witness.
//!
//! One command, nothing to set up; about 20 seconds in release:
//!
//! ```text
//! cargo run --release --example demo
//! cargo run --release --example demo -- --requests 5000 --concurrency 4 --json
//! cargo run --release --example demo -- --plot time-wait.svg
//! ```
//!
//! The demo starts a line echo server in-process on loopback (the one the
//! `echo-server` example runs) and sends `--requests` lines over
//! `--concurrency` tasks in each scenario:
//!
//! 1. `connect-per-request`: connect, send one line, read the echo, close;
//!    the client closes first, as many clients do;
//! 2. `pool-local`: a pool that recycles connections at `--max-lifetime` and
//!    closes them itself ([`ClosePolicy::Local`](timewait::pool::ClosePolicy));
//! 3. `pool-peer-first`: the same pool with its default policy: it sends
//!    `QUIT`, the server closes first, and the pool closes after its FIN.
//!
//! Each scenario has its own server on a port no other socket mentions, so
//! the kernel's counts of one never mix with another's, nor with TIME_WAIT
//! left by earlier runs. Its row gives requests, errors, seconds, requests
//! per second, p50 and p99 latency, connects, and the TIME_WAIT entries on
//! the client side (remote address = the server's) and on the server side
//! (local address = the server's), counted by the core's socket census once
//! every connection has closed. Then come this machine's port budget and a
//! sentence reading the table.
//!
//! `--json` prints one JSON object per scenario instead (keys `scenario`,
//! `requests`, `errors`, `seconds`, `req_per_sec`, `p50_us`, `p99_us`,
//! `connects`, `client_time_wait`, `server_time_wait`); `--plot FILE.svg`
//! samples both sides' TIME_WAIT during each run and charts them. A progress
//! bar shows on a terminal. The exit status is 1 when a request failed.
//! Linux only: the census reads the Linux kernel.

#[cfg(target_os = "linux")]
mod plot;
#[cfg(target_os = "linux")]
mod report;
#[cfg(target_os = "linux")]
mod sampler;
#[cfg(target_os = "linux")]
mod scenario;
#[cfg(target_os = "linux")]
mod workload;

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("the demo counts TIME_WAIT with the Linux kernel's socket census: run it on Linux");
    std::process::ExitCode::FAILURE
}

#[cfg(target_os = "linux")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::process::ExitCode;

    use clap::Parser;

    match linux::run(linux::Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, IsTerminal, Write};
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::Parser;
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use timewait::pool::BoxError;
    use tokio::time::Instant;

    use crate::report::{self, Budget};
    use crate::scenario::{self, Outcome, Scenario, Settings};
    use crate::workload::{Plan, chain};

    /// Where TIME_WAIT lands: connect-per-request, a pool closing first, and
    /// a pool letting the server close first, counted by the kernel.
    #[derive(Debug, Parser)]
    pub(crate) struct Args {
        /// Requests per scenario.
        #[arg(long, default_value_t = 40_000, value_parser = clap::value_parser!(u64).range(1..))]
        requests: u64,
        /// Tasks sending at once (and the pools' most open connections).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
        concurrency: u16,
        /// The pools retire connections this old (`100ms`, `1s`).
        #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
        max_lifetime: Duration,
        /// Print one JSON object per scenario instead of the table.
        #[arg(long)]
        json: bool,
        /// Write a chart of TIME_WAIT over time, by scenario and side, to
        /// this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    }

    /// Runs the scenarios and prints what they did; `Ok(false)` when a
    /// request failed.
    pub(crate) async fn run(args: Args) -> Result<bool, BoxError> {
        if args.max_lifetime.is_zero() {
            return Err(
                "--max-lifetime is zero: give the pools a positive lifetime, such as 100ms".into(),
            );
        }
        let settings = Settings {
            max_lifetime: args.max_lifetime,
            sample: args.plot.is_some(),
            origin: Instant::now(),
        };
        let mut out = io::stdout();
        let show_progress = out.is_terminal();
        if !args.json {
            writeln!(
                out,
                "{} requests over {} tasks per scenario, each scenario against its own echo server on 127.0.0.1\n",
                args.requests, args.concurrency
            )?;
        }

        let mut outcomes: Vec<(Scenario, Outcome)> = Vec::new();
        for scenario in Scenario::ALL {
            let progress = progress_bar(scenario, args.requests, show_progress);
            let plan = Plan {
                requests: args.requests,
                concurrency: args.concurrency,
                progress: progress.clone(),
            };
            let outcome = scenario::run(scenario, &plan, settings).await;
            progress.finish_and_clear();
            let outcome =
                outcome.map_err(|error| format!("{}: {}", scenario.name(), chain(&*error)))?;
            if let Some(error) = &outcome.first_error {
                eprintln!(
                    "demo: {}: {} requests failed; the first: {error}",
                    scenario.name(),
                    outcome.row.errors
                );
            }
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&outcome.row)?)?;
            }
            outcomes.push((scenario, outcome));
        }

        let rows: Vec<_> = outcomes.iter().map(|(_, o)| o.row.clone()).collect();
        if !args.json {
            report::write_table(&mut out, &rows)?;
            writeln!(out)?;
            let budget = Budget::read();
            budget.write(&mut out)?;
            writeln!(out)?;
            writeln!(out, "{}", report::reading(&rows, &budget))?;
        }
        if let Some(path) = &args.plot {
            write_plot(path, &outcomes)?;
            if !args.json {
                writeln!(
                    out,
                    "\nchart of TIME_WAIT over time written to {}",
                    path.display()
                )?;
            }
        }
        Ok(rows.iter().all(|row| row.errors == 0))
    }

    fn write_plot(
        path: &std::path::Path,
        outcomes: &[(Scenario, Outcome)],
    ) -> Result<(), BoxError> {
        let mut runs = Vec::new();
        for (scenario, outcome) in outcomes {
            if let Some(samples) = &outcome.samples {
                if let Some(error) = &samples.error {
                    eprintln!("demo: {}: sampling stopped early: {error}", scenario.name());
                }
                runs.push((scenario.name(), samples));
            }
        }
        crate::plot::write_svg(path, &runs).map_err(|error| {
            format!(
                "cannot write the chart to {}: {}",
                path.display(),
                chain(&*error)
            )
            .into()
        })
    }

    /// A bar for one scenario's requests, drawn on stderr when stdout is a
    /// terminal, hidden otherwise.
    fn progress_bar(scenario: Scenario, requests: u64, show: bool) -> ProgressBar {
        if !show {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(requests), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{prefix:>20} [{wide_bar}] {pos:>6}/{len:6} {elapsed:>3}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(scenario.name());
        bar
    }
}
