//! Whether any task starves under `checkout/contended`'s load: 64 tasks on
//! a 2-worker runtime share a pool of 8 (most checkouts wait) or 64
//! connections, each cycling (check out, hold across a yield, return) until
//! a deadline; printed per party: the fewest and the most cycles any task
//! made, and their ratio. A pool that serves its waiters first come first
//! served keeps the ratio near 1; one that lets a returning task take its
//! connection back ahead of the queue lets some tasks run away with it.
//!
//! Run: `cargo bench --bench checkout_fairness` (1 s a party and size);
//! `cargo bench -- --test` runs it for 50 ms, as a check that it works.

#[path = "support/dummy.rs"]
mod dummy;
#[path = "support/parties.rs"]
mod parties;
#[path = "support/tasks.rs"]
mod tasks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parties::{CONTENDED_SIZES, Cycle, KEY, Parties, TASKS, WORKERS};

/// Cycles of each of [`TASKS`] tasks sharing `pool` for `period`.
fn cycles_per_task<P: Cycle>(
    runtime: &tokio::runtime::Runtime,
    pool: &P,
    period: Duration,
) -> Vec<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    runtime.block_on(async {
        let running: Vec<_> = (0..TASKS)
            .map(|_| {
                let (mut pool, stop) = (pool.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut cycles = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        pool.cycle(KEY, true).await;
                        cycles += 1;
                    }
                    cycles
                })
            })
            .collect();
        tokio::time::sleep(period).await;
        stop.store(true, Ordering::Relaxed);
        let mut counts = Vec::with_capacity(TASKS);
        for task in running {
            counts.push(task.await.expect("a fairness task failed"));
        }
        counts
    })
}

fn report(party: &str, size: usize, counts: &[u64]) {
    let least = counts.iter().copied().min().unwrap_or(0);
    let most = counts.iter().copied().max().unwrap_or(0);
    let total: u64 = counts.iter().sum();
    let spread = if least == 0 {
        f64::INFINITY
    } else {
        most as f64 / least as f64
    };
    println!(
        "checkout/contended/{party}/{size}: {total} cycles over {TASKS} tasks, least {least}, most {most}, most/least {spread:.2}"
    );
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let period = if test {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    };
    let runtime = tasks::multi_thread(WORKERS);
    for size in CONTENDED_SIZES {
        let parties = Parties::new(&runtime, size);
        report(
            "timewait",
            size,
            &cycles_per_task(&runtime, &parties.timewait, period),
        );
        report(
            "deadpool",
            size,
            &cycles_per_task(&runtime, &parties.deadpool, period),
        );
        report(
            "bb8",
            size,
            &cycles_per_task(&runtime, &parties.bb8, period),
        );
        report(
            "std-mutex-vec",
            size,
            &cycles_per_task(&runtime, &parties.floor, period),
        );
    }
}
