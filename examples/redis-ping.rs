//! Pings a Redis server through framed leases over the pool, and shows
//! where the TIME_WAIT entries of its connections landed.
//!
//! `--requests` `PING`s go out over `--concurrency` tasks that share one
//! pool; each checks a connection out, puts the RESP codec on it
//! (`Pooled::framed`), sends `PING`, decodes `+PONG` and releases the
//! connection at that message boundary. The pool retires a connection after
//! `--max-uses` requests, and all of them at the end, under `--policy`:
//! `peer-first` says `--farewell` (`QUIT`, or `CLIENT KILL` of itself for
//! Redis 7.2 and later, where `QUIT` is deprecated) and waits for the
//! server's FIN; `local` closes first.
//!
//! It prints requests per second, connects and reuses, and the kernel's
//! count of TIME_WAIT entries toward the server's port on each side (the
//! server's side is seen only when the server runs on this machine, and
//! other clients of that port are counted too).
//!
//! ```text
//! redis-server --port 6379 --save '' &
//! cargo run --release --example redis-ping -- --server localhost:6379
//! cargo run --release --example redis-ping -- --server localhost:6379 --policy local
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use timewait::pool::farewells::{RedisClientKillSelf, RedisQuit};
use timewait::pool::{BoxError, ClosePolicy, Pool, PoolBuilder, TcpConnector};
use timewait_servers::codec::{Resp, RespCommand, RespValue};
use tokio::net::TcpStream;

type RedisPool = Pool<SocketAddr, TcpConnector, TcpStream>;

/// Pings a Redis server through framed leases over the pool.
#[derive(Debug, Parser)]
struct Args {
    /// The Redis server, `host:port` (`localhost:6379`).
    #[arg(long, default_value = "localhost:6379")]
    server: String,
    /// How many `PING`s to send in all.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// How many tasks send at once (and the most connections open).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Retire a connection after this many requests (0: never during the run).
    #[arg(long, default_value_t = 100)]
    max_uses: u64,
    /// How retired connections are closed.
    #[arg(long, value_enum, default_value_t = Policy::PeerFirst)]
    policy: Policy,
    /// What `peer-first` says to make the server close.
    #[arg(long, value_enum, default_value_t = Farewell::Quit)]
    farewell: Farewell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Policy {
    PeerFirst,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Farewell {
    /// `QUIT` (deprecated in Redis 7.2, still served).
    Quit,
    /// `CLIENT KILL ID <own id> SKIPME no`.
    ClientKill,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("redis-ping: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the pings; `Ok(false)` when some failed.
async fn run(args: &Args) -> Result<bool, BoxError> {
    let server = tokio::net::lookup_host(&args.server)
        .await?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", args.server))?;
    let pool = pool(args)?;
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = args.requests / u64::from(args.concurrency);
    let extra = args.requests % u64::from(args.concurrency);
    for task in 0..u64::from(args.concurrency) {
        let (pool, errors) = (pool.clone(), errors.clone());
        let count = per_task + u64::from(task < extra);
        tasks.spawn(async move {
            for _ in 0..count {
                if let Err(error) = ping(&pool, server).await {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("redis-ping: a request failed: {error}");
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let activity = pool.stats().total.activity;
    let report = pool.shutdown(Duration::from_secs(10)).await;
    let errors = errors.load(Ordering::Relaxed);
    let sides = timewait_echo::settled_time_wait(server, Duration::from_secs(10)).await?;
    println!(
        "{:<12} {:>9} {:>6} {:>8} {:>9} {:>8} {:>8} {:>10} {:>10}",
        "policy",
        "requests",
        "errors",
        "seconds",
        "req/s",
        "connects",
        "reuses",
        "client TW",
        "server TW"
    );
    println!(
        "{:<12} {:>9} {:>6} {:>8.2} {:>9.0} {:>8} {:>8} {:>10} {:>10}",
        format!("{:?}", args.policy).to_lowercase(),
        args.requests,
        errors,
        elapsed.as_secs_f64(),
        args.requests.saturating_sub(errors) as f64 / elapsed.as_secs_f64(),
        activity.connects,
        activity.reuses,
        sides.client,
        sides.server,
    );
    eprintln!("shutdown: {report:?}");
    if !server.ip().is_loopback() {
        eprintln!("the server is not on this machine: its side's TIME_WAIT is in its own kernel");
    }
    Ok(errors == 0)
}

fn pool(args: &Args) -> Result<RedisPool, BoxError> {
    let concurrency = usize::from(args.concurrency);
    let mut builder = PoolBuilder::new()
        .max_open_per_key(concurrency)
        .max_idle_per_key(concurrency)
        .max_uses((args.max_uses > 0).then_some(args.max_uses));
    builder = match (args.policy, args.farewell) {
        (Policy::Local, _) => builder.close_policy(ClosePolicy::Local),
        (Policy::PeerFirst, Farewell::Quit) => builder.farewell(RedisQuit),
        (Policy::PeerFirst, Farewell::ClientKill) => builder.farewell(RedisClientKillSelf),
    };
    Ok(Pool::new(builder.build()?, TcpConnector::new()))
}

/// One `PING` on a framed lease, released once `+PONG` is decoded.
async fn ping(pool: &RedisPool, server: SocketAddr) -> Result<(), BoxError> {
    let mut conn = pool.get(server).await?.framed(Resp::default());
    match conn.call(RespCommand::new(["PING"])).await? {
        RespValue::Simple(pong) if pong == "PONG" => {}
        other => return Err(format!("PING answered {other:?}").into()),
    }
    conn.release();
    Ok(())
}
