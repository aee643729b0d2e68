//! The workload both clients run: a fixed number of requests spread over a
//! fixed number of tasks, with each request's latency recorded.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use timewait::pool::BoxError;

/// What a workload did.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Requests attempted.
    pub(crate) requests: u64,
    /// Requests that failed (transport error or a non-success status).
    pub(crate) errors: u64,
    /// The first failure, to show the user why.
    pub(crate) first_error: Option<String>,
    /// From the first request's start to the last one's end.
    pub(crate) elapsed: Duration,
    /// Latencies of the successful requests, in microseconds, sorted.
    pub(crate) latencies_us: Vec<u64>,
}

impl Outcome {
    /// Successful requests per second over the whole run.
    pub(crate) fn req_per_sec(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.latencies_us.len() as f64 / seconds
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0 < q ≤ 1) by nearest rank; 0 when no
    /// request succeeded.
    pub(crate) fn latency_us(&self, q: f64) -> u64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0;
        }
        let rank = (q * n as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, n) - 1]
    }
}

/// Runs `requests` calls of `one` from `concurrency` tasks, each task taking
/// the next request number until none is left.
pub(crate) async fn run<F, Fut, E>(requests: u64, concurrency: usize, one: F) -> Outcome
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<BoxError>,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let one = one.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let t0 = Instant::now();
                match one().await {
                    Ok(()) => latencies.push(micros(t0.elapsed())),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| chain(&*error.into()));
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut outcome = Outcome {
        requests,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        match task.await {
            Ok((latencies, errors, first_error)) => {
                outcome.latencies_us.extend(latencies);
                outcome.errors += errors;
                if outcome.first_error.is_none() {
                    outcome.first_error = first_error;
                }
            }
            Err(error) => {
                // A task that panicked or was cancelled: its requests are
                // not accounted for, so count the gap as errors below.
                outcome.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    outcome.elapsed = start.elapsed();
    let accounted = outcome.latencies_us.len() as u64 + outcome.errors;
    outcome.errors += requests.saturating_sub(accounted);
    outcome.latencies_us.sort_unstable();
    outcome
}

/// An error and its sources, `outer: inner: root`.
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

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
