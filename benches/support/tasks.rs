//! Concurrent clients for `iter_custom`: a benchmark's iterations spread over
//! tokio tasks and timed as one.
//!
//! One iteration is one operation of one task, so the wall time over all
//! iterations divided by their number, which criterion reports, is the time
//! per operation at that concurrency: the inverse of throughput.
#![allow(dead_code)] // each bench uses part of it

use std::future::Future;
use std::time::{Duration, Instant};

/// A multi-thread tokio runtime with `workers` worker threads.
pub(crate) fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `iters` split into `parts` counts that differ by at most one.
pub(crate) fn shares(iters: u64, parts: usize) -> impl Iterator<Item = u64> {
    let parts = u64::try_from(parts.max(1)).unwrap_or(u64::MAX);
    let (each, rest) = (iters / parts, iters % parts);
    (0..parts).map(move |i| each + u64::from(i < rest))
}

/// Spawns `task(state, count)` for each state, the counts adding up to
/// `iters`, and returns the wall time from the first spawn to the last task's
/// end with the states the tasks hand back (connections to keep for the next
/// sample, say).
///
/// Whatever a task needs is made by the caller before the clock starts, so
/// that no benchmarked party pays for setting up its clients.
pub(crate) async fn timed_tasks<S, F, Fut>(
    iters: u64,
    states: Vec<S>,
    task: F,
) -> (Duration, Vec<S>)
where
    S: Send + 'static,
    F: Fn(S, u64) -> Fut,
    Fut: Future<Output = S> + Send + 'static,
{
    let counts: Vec<u64> = shares(iters, states.len()).collect();
    let start = Instant::now();
    let running: Vec<_> = states
        .into_iter()
        .zip(counts)
        .map(|(state, count)| tokio::spawn(task(state, count)))
        .collect();
    let mut back = Vec::with_capacity(running.len());
    for task in running {
        back.push(task.await.expect("a benchmark task failed"));
    }
    (start.elapsed(), back)
}
