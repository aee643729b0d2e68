//! Checkout and return of a pooled dummy connection (no I/O): `timewait`
//! against deadpool, bb8 and the floor of a `std::sync::Mutex<Vec<_>>` pop
//! and push.
//!
//! - `checkout/uncontended`: one task on a current-thread runtime checks a
//!   connection out and returns it, over and over.
//! - `checkout/contended`: 64 tasks on a 2-worker runtime share a pool of 8 or
//!   of 64 connections; each holds its connection across one yield to the
//!   scheduler, as a real user holds it across I/O, so that with 8
//!   connections most checkouts wait.
//! - `checkout/keyed`: 64 tasks on a 2-worker runtime spread their checkouts
//!   over 1,024 keys (4 connections a key at most), holding each across a
//!   yield; deadpool and bb8 as their users key them, one pool per key in a
//!   map built before the clock starts.
//!
//! How the parties are measured alike: each is a [`Cycle`] (check out, hold,
//! return) timed by the same loop with `iter_custom`. Each sample takes one
//! handle to the pool per task (a clone: an `Arc` for deadpool, bb8 and the
//! floor; an `Arc` and a connector for `timewait`) before its clock starts,
//! and every iteration uses that handle through `&mut`, so nobody pays for a
//! clone per checkout. Each pool keeps its defaults but for its size, and
//! each runs its own check on checkout: `timewait`'s `health`, deadpool's
//! `recycle`, bb8's `is_valid` (all constant here). The floor has no queue of
//! waiters: a task that finds it empty yields and tries again.
//!
//! Run: `cargo bench --bench checkout`.

#[path = "support/dummy.rs"]
mod dummy;
#[path = "support/parties.rs"]
mod parties;
#[path = "support/tasks.rs"]
mod tasks;

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use parties::{CONTENDED_SIZES, Cycle, KEY, KEYS, KeyedParties, PER_KEY, Parties, TASKS, WORKERS};

/// The uncontended pools' size (the one task needs one connection).
const UNCONTENDED_SIZE: usize = 8;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
}

/// One task, one pool handle per sample, `iters` cycles without a hold.
fn bench_uncontended<P: Cycle>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    id: &str,
    pool: P,
) {
    group.bench_function(id, |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let mut pool = pool.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    pool.cycle(KEY, false).await;
                }
                start.elapsed()
            }
        });
    });
}

/// [`TASKS`] tasks, a pool handle each per sample, `iters` cycles with a hold
/// among them.
fn bench_contended<P: Cycle>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    id: &str,
    size: usize,
    pool: P,
) {
    group.bench_with_input(BenchmarkId::new(id, size), &pool, |b, pool| {
        b.to_async(runtime).iter_custom(|iters| {
            let handles = vec![pool.clone(); TASKS];
            async move {
                let (elapsed, _) =
                    tasks::timed_tasks(iters, handles, |mut pool, count| async move {
                        for _ in 0..count {
                            pool.cycle(KEY, true).await;
                        }
                        pool
                    })
                    .await;
                elapsed
            }
        });
    });
}

fn uncontended(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let parties = Parties::new(&runtime, UNCONTENDED_SIZE);
    let mut group = c.benchmark_group("checkout/uncontended");
    configure(&mut group);
    bench_uncontended(&mut group, &runtime, "timewait", parties.timewait);
    bench_uncontended(&mut group, &runtime, "deadpool", parties.deadpool);
    bench_uncontended(&mut group, &runtime, "bb8", parties.bb8);
    bench_uncontended(&mut group, &runtime, "std-mutex-vec", parties.floor);
    group.finish();
}

fn contended(c: &mut Criterion) {
    let runtime = tasks::multi_thread(WORKERS);
    let mut group = c.benchmark_group("checkout/contended");
    configure(&mut group);
    for size in CONTENDED_SIZES {
        let parties = Parties::new(&runtime, size);
        bench_contended(&mut group, &runtime, "timewait", size, parties.timewait);
        bench_contended(&mut group, &runtime, "deadpool", size, parties.deadpool);
        bench_contended(&mut group, &runtime, "bb8", size, parties.bb8);
        bench_contended(&mut group, &runtime, "std-mutex-vec", size, parties.floor);
    }
    group.finish();
}

/// [`TASKS`] tasks spreading `iters` cycles over [`KEYS`] keys: task `t`'s
/// `i`-th checkout asks for key `(t × 97 + i × 31) mod KEYS`, so keys are
/// visited evenly and tasks rarely share one at a time.
fn bench_keyed<P: Cycle>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    id: &str,
    pool: P,
) {
    group.bench_function(id, |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let handles: Vec<(u32, P)> = (0..TASKS as u32).map(|t| (t, pool.clone())).collect();
            async move {
                let (elapsed, _) =
                    tasks::timed_tasks(iters, handles, |(task, mut pool), count| async move {
                        for i in 0..count as u32 {
                            let key = task.wrapping_mul(97).wrapping_add(i.wrapping_mul(31)) % KEYS;
                            pool.cycle(key, true).await;
                        }
                        (task, pool)
                    })
                    .await;
                elapsed
            }
        });
    });
}

fn keyed(c: &mut Criterion) {
    let runtime = tasks::multi_thread(WORKERS);
    let parties = KeyedParties::new(&runtime, KEYS, PER_KEY);
    let mut group = c.benchmark_group("checkout/keyed");
    configure(&mut group);
    bench_keyed(&mut group, &runtime, "timewait", parties.timewait);
    bench_keyed(&mut group, &runtime, "deadpool", parties.deadpool);
    bench_keyed(&mut group, &runtime, "bb8", parties.bb8);
    group.finish();
}

criterion_group!(benches, uncontended, contended, keyed);
criterion_main!(benches);
