//! The workload every scenario runs: the same requests over the same number
//! of tasks, through a plain client or through a pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;
use timewait::pool::{BoxError, ClosePolicy, FarewellMessage, Pool, PoolBuilder, TcpConnector};
use timewait_echo::{QUIT, exchange};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The line every request sends and reads back.
const LINE: &[u8] = b"hello, timewait\n";
/// How long a connect may take before its request fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a pool's retirement waits for the server's FIN.
const GRACE: Duration = Duration::from_secs(5);
/// How long a pool's shutdown may take: every retirement within its grace.
const SHUTDOWN: Duration = Duration::from_secs(10);

type EchoPool = Pool<SocketAddr, TcpConnector, TcpStream>;

/// How many requests, over how many tasks, with what progress bar.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) requests: u64,
    pub(crate) concurrency: u16,
    pub(crate) progress: ProgressBar,
}

/// What a workload did.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// Requests that failed.
    pub(crate) errors: u64,
    /// The first failure, for the report.
    pub(crate) first_error: Option<String>,
    /// From the first request to the last answer (a pool's shutdown after
    /// that is not counted).
    pub(crate) elapsed: Duration,
    /// Each successful request's duration in microseconds, sorted.
    pub(crate) latencies_us: Vec<u32>,
    /// New connections made.
    pub(crate) connects: u64,
}

impl Load {
    /// The latency below which a share `q` (0 to 1) of the successful
    /// requests fell, in microseconds (nearest rank); 0 with none.
    pub(crate) fn quantile_us(&self, q: f64) -> u64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0;
        }
        // The rank is at most n, so the cast back cannot truncate.
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        u64::from(self.latencies_us[rank.clamp(1, n) - 1])
    }

    fn merge(&mut self, other: Load) {
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies_us.extend(other.latencies_us);
        self.connects += other.connects;
    }

    fn record(&mut self, started: Instant, result: Result<(), BoxError>, progress: &ProgressBar) {
        match result {
            Ok(()) => {
                let micros = started.elapsed().as_micros();
                self.latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| chain(&*error));
            }
        }
        progress.inc(1);
    }
}

/// Hands out request numbers until the plan's count is reached.
#[derive(Debug)]
struct Work {
    next: AtomicU64,
    requests: u64,
}

impl Work {
    fn take(&self) -> bool {
        self.next.fetch_add(1, Ordering::Relaxed) < self.requests
    }
}

/// What many clients do: for each request, connect, exchange one line, and
/// close first.
pub(crate) async fn connect_per_request(server: SocketAddr, plan: &Plan) -> Result<Load, BoxError> {
    drive(plan, |work, progress| async move {
        let mut load = Load::default();
        let mut reply = Vec::with_capacity(LINE.len());
        while work.take() {
            let started = Instant::now();
            let result = match connect(server).await {
                Ok(mut conn) => {
                    load.connects += 1;
                    exchange(&mut conn, LINE, &mut reply).await
                    // `conn` is dropped here: the client sends the first FIN.
                }
                Err(error) => Err(error),
            };
            load.record(started, result.map_err(Into::into), &progress);
        }
        load
    })
    .await
}

/// The same requests through a pool that retires connections at
/// `max_lifetime` and closes them under `policy`; ends with the pool's
/// shutdown, so every connection is retired under the policy before the
/// kernel is asked where TIME_WAIT landed.
pub(crate) async fn pooled(
    server: SocketAddr,
    policy: ClosePolicy,
    max_lifetime: Duration,
    plan: &Plan,
) -> Result<Load, BoxError> {
    let concurrency = usize::from(plan.concurrency);
    let config = PoolBuilder::new()
        .close_policy(policy)
        .farewell(FarewellMessage::new(QUIT))
        .grace(GRACE)
        .max_lifetime(max_lifetime)
        .max_open_per_key(concurrency)
        .max_idle_per_key(concurrency)
        .max_total(concurrency)
        .build()?;
    let pool = EchoPool::new(
        config,
        TcpConnector::new().connect_timeout(Some(CONNECT_TIMEOUT)),
    );
    let tasks_pool = pool.clone();
    let mut load = drive(plan, move |work, progress| {
        let mut pool = tasks_pool.clone();
        async move {
            let mut load = Load::default();
            let mut reply = Vec::with_capacity(LINE.len());
            while work.take() {
                let started = Instant::now();
                let result = pooled_request(&mut pool, server, &mut reply).await;
                load.record(started, result, &progress);
            }
            load
        }
    })
    .await?;
    let report = pool.shutdown(SHUTDOWN).await;
    if !report.completed {
        return Err(format!(
            "the {policy} pool's shutdown did not finish within {SHUTDOWN:?}: {} connections still lent, {} still retiring",
            report.still_in_use, report.still_retiring
        )
        .into());
    }
    load.connects = pool.stats().total.activity.connects;
    Ok(load)
}

async fn connect(server: SocketAddr) -> std::io::Result<TcpStream> {
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    conn.set_nodelay(true)?;
    Ok(conn)
}

async fn pooled_request(
    pool: &mut EchoPool,
    server: SocketAddr,
    reply: &mut Vec<u8>,
) -> Result<(), BoxError> {
    let mut conn = pool.get(server).await?;
    // An early return drops the lease unreleased: a half-done exchange is
    // never lent again.
    exchange(&mut conn, LINE, reply).await?;
    // The whole answer is read: lend the connection again.
    conn.release();
    Ok(())
}

/// Runs `plan.concurrency` tasks made by `task` until the requests are
/// spent, and merges what they did.
async fn drive<T, F>(plan: &Plan, mut task: T) -> Result<Load, BoxError>
where
    T: FnMut(Arc<Work>, ProgressBar) -> F,
    F: Future<Output = Load> + Send + 'static,
{
    let work = Arc::new(Work {
        next: AtomicU64::new(0),
        requests: plan.requests,
    });
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..plan.concurrency {
        tasks.spawn(task(Arc::clone(&work), plan.progress.clone()));
    }
    let mut load = Load::default();
    while let Some(joined) = tasks.join_next().await {
        load.merge(joined?);
    }
    load.elapsed = started.elapsed();
    load.latencies_us.sort_unstable();
    Ok(load)
}

/// An error and its sources, `: `-separated.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
