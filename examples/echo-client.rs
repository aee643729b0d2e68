//! Sends lines to an echo server through the pool, and reports who closed
//! each connection the pool retired.
//!
//! `--requests` lines go out over `--concurrency` tasks that share one pool.
//! Each request checks a connection out, sends a line, reads the echo and
//! gives the connection back. The pool retires connections when they reach
//! `--max-uses` checkouts or `--max-lifetime`, and at the end of the run,
//! under `--policy`:
//!
//! - `peer-first` (the default): the pool sends the line `QUIT`, the server
//!   closes first, and the pool closes after reading its FIN: TIME_WAIT on
//!   the server, none here;
//! - `local`: the pool closes first: TIME_WAIT here, one ephemeral port per
//!   connection held toward the server for 60 s;
//! - `abort`: the pool resets the connection: no TIME_WAIT anywhere, and the
//!   dangers the pool's documentation lists.
//!
//! The report gives requests, errors, connects, reuses and the pool's count
//! of who closed each retired connection; `--json` prints it as one object.
//! The exit status is 1 when a request failed.
//!
//! ```text
//! cargo run --example echo-server &
//! cargo run --example echo-client -- --policy peer-first --max-uses 100
//! cargo run --example echo-client -- --server localhost:7878
//! cargo run --example echo-client -- --policy local --max-lifetime 50ms --json
//! cargo run --example census -- --port 7878
//! ```

use std::error::Error as StdError;
use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::json;
use timewait::pool::{
    BoxError, ClosePolicy, FarewellMessage, Pool, PoolBuilder, PoolStats, ShutdownReport,
    TcpConnector,
};
use timewait_echo::{QUIT, exchange};
use tokio::net::TcpStream;
use tracing_subscriber::EnvFilter;

type EchoPool = Pool<SocketAddr, TcpConnector, TcpStream>;

/// How long a connect may take before the request fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends lines to an echo server through the pool.
#[derive(Debug, Parser)]
struct Args {
    /// The echo server: `IP:port` or `host:port` (`localhost:7878`); a
    /// name is resolved once, its first IPv4 address preferred.
    #[arg(long, default_value = "127.0.0.1:7878", value_parser = resolve)]
    server: SocketAddr,
    /// How many lines to send in all.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// How many tasks send at once (and the most connections open).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// How retired connections are closed.
    #[arg(long, value_enum, default_value_t = Policy::PeerFirst)]
    policy: Policy,
    /// Retire a connection after this many requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_uses: Option<u64>,
    /// Retire a connection this old (`50ms`, `2s`).
    #[arg(long, value_parser = humantime::parse_duration)]
    max_lifetime: Option<Duration>,
    /// How long a peer-first retirement waits for the server's FIN.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    grace: Duration,
    /// The line to send (a newline is added).
    #[arg(long, default_value = "hello, timewait")]
    line: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `--policy`: the pool's close policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Policy {
    /// The server closes first (after `QUIT`).
    PeerFirst,
    /// This client closes first.
    Local,
    /// This client resets the connection.
    Abort,
}

impl From<Policy> for ClosePolicy {
    fn from(policy: Policy) -> ClosePolicy {
        match policy {
            Policy::PeerFirst => ClosePolicy::PeerFirst,
            Policy::Local => ClosePolicy::Local,
            Policy::Abort => ClosePolicy::Abort,
        }
    }
}

/// What one task did.
#[derive(Debug, Default)]
struct Tally {
    errors: u64,
    first_error: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("echo-client: {}", chain(&*error));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, BoxError> {
    let mut line = args.line.clone().into_bytes();
    if line.contains(&b'\n') || line == QUIT[..QUIT.len() - 1] {
        return Err("--line must be one line, and not QUIT: pick other text".into());
    }
    line.push(b'\n');
    let line: Arc<[u8]> = line.into();

    let concurrency = usize::from(args.concurrency);
    let config = PoolBuilder::new()
        .close_policy(args.policy.into())
        .farewell(FarewellMessage::new(QUIT))
        .grace(args.grace)
        .max_open_per_key(concurrency)
        .max_idle_per_key(concurrency)
        .max_total(concurrency)
        .max_uses(args.max_uses)
        .max_lifetime(args.max_lifetime)
        .build()?;
    let pool = EchoPool::new(
        config,
        TcpConnector::new().connect_timeout(Some(CONNECT_TIMEOUT)),
    );

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        tasks.spawn(send_lines(
            pool.clone(),
            args.server,
            Arc::clone(&line),
            Arc::clone(&next),
            args.requests,
        ));
    }
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let tally = joined?;
        total.errors += tally.errors;
        total.first_error = total.first_error.or(tally.first_error);
    }
    let seconds = started.elapsed().as_secs_f64();
    // Retire what is idle under the policy, and wait for the retirements.
    let shutdown = pool
        .shutdown(args.grace.saturating_add(Duration::from_secs(5)))
        .await;
    let stats = pool.stats();

    if args.json {
        write_json(&mut io::stdout(), &args, &total, seconds, &stats, &shutdown)?;
    } else {
        write_text(&mut io::stdout(), &args, &total, seconds, &stats, &shutdown)?;
    }
    Ok(match total.first_error {
        Some(error) => {
            eprintln!(
                "echo-client: {} requests failed; the first: {error}",
                total.errors
            );
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    })
}

/// `IP:port`, or `host:port` resolved once; the first IPv4 address is
/// preferred, since servers on loopback usually listen on 127.0.0.1.
fn resolve(server: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = server
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {server:?}: {error} (give host:port)"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{server:?} resolves to no address"))
}

/// Sends lines until `next` reaches `requests`.
async fn send_lines(
    mut pool: EchoPool,
    server: SocketAddr,
    line: Arc<[u8]>,
    next: Arc<AtomicU64>,
    requests: u64,
) -> Tally {
    let mut tally = Tally::default();
    let mut reply = Vec::with_capacity(line.len());
    while next.fetch_add(1, Ordering::Relaxed) < requests {
        if let Err(error) = request(&mut pool, server, &line, &mut reply).await {
            tally.errors += 1;
            tally.first_error.get_or_insert_with(|| chain(&*error));
        }
    }
    tally
}

/// One request: check a connection out, exchange a line, give it back.
async fn request(
    pool: &mut EchoPool,
    server: SocketAddr,
    line: &[u8],
    reply: &mut Vec<u8>,
) -> Result<(), BoxError> {
    let mut conn = pool.get(server).await?;
    // An early return drops the lease unreleased: a half-done exchange is
    // never lent again.
    exchange(&mut conn, line, reply).await?;
    // The whole answer is read: lend the connection again.
    conn.release();
    Ok(())
}

/// An error and its sources, `: `-separated.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn rate(requests: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        requests as f64 / seconds
    } else {
        0.0
    }
}

fn write_json(
    out: &mut dyn Write,
    args: &Args,
    total: &Tally,
    seconds: f64,
    stats: &PoolStats<SocketAddr>,
    shutdown: &ShutdownReport,
) -> Result<(), BoxError> {
    let activity = stats.total.activity;
    let retired = activity.retired;
    let report = json!({
        "server": args.server.to_string(),
        "policy": ClosePolicy::from(args.policy).to_string(),
        "requests": args.requests,
        "errors": total.errors,
        "seconds": seconds,
        "req_per_sec": rate(args.requests.saturating_sub(total.errors), seconds),
        "connects": activity.connects,
        "reuses": activity.reuses,
        "retired": {
            "by_peer": retired.by_peer,
            "by_peer_reset": retired.by_peer_reset,
            "local": retired.local,
            "aborted": retired.aborted,
            "timed_out": retired.timed_out,
        },
        "shutdown_completed": shutdown.completed,
    });
    writeln!(out, "{}", serde_json::to_string(&report)?)?;
    Ok(())
}

fn write_text(
    out: &mut dyn Write,
    args: &Args,
    total: &Tally,
    seconds: f64,
    stats: &PoolStats<SocketAddr>,
    shutdown: &ShutdownReport,
) -> io::Result<()> {
    let activity = stats.total.activity;
    let retired = activity.retired;
    writeln!(out, "server      {}", args.server)?;
    writeln!(out, "policy      {}", ClosePolicy::from(args.policy))?;
    writeln!(
        out,
        "requests    {} ({} failed) in {seconds:.2} s: {:.0} answered per second",
        args.requests,
        total.errors,
        rate(args.requests.saturating_sub(total.errors), seconds)
    )?;
    writeln!(
        out,
        "connects    {} new, {} reuses",
        activity.connects, activity.reuses
    )?;
    writeln!(
        out,
        "retired     {}: server closed first {}, server reset {}, closed here first {}, aborted here {}, timed out {}",
        retired.total(),
        retired.by_peer,
        retired.by_peer_reset,
        retired.local,
        retired.aborted,
        retired.timed_out
    )?;
    writeln!(
        out,
        "TIME_WAIT   {} on the server, {} here (one per connection whose first FIN it sent)",
        retired.by_peer, retired.local
    )?;
    if !shutdown.completed {
        writeln!(
            out,
            "shutdown    incomplete: {} connections still lent, {} still retiring",
            shutdown.still_in_use, shutdown.still_retiring
        )?;
    }
    Ok(())
}
