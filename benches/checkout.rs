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
#[path = "support/tasks.rs"]
mod tasks;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use timewait::pool::{ClosePolicy, Pool, PoolBuilder};
use tokio::runtime::Runtime;

use dummy::{Bb8Dummies, DeadpoolDummies, Dummy, MakeDummy};

/// The key every checkout asks for.
const KEY: u32 = 7;
/// The uncontended pools' size (the one task needs one connection).
const UNCONTENDED_SIZE: usize = 8;
/// Tasks and runtime workers of the contended group.
const TASKS: usize = 64;
const WORKERS: usize = 2;
/// The contended group's pool sizes: most checkouts wait, or none do.
const CONTENDED_SIZES: [usize; 2] = [8, 64];
/// The keyed group's keys, and connections a key at most.
const KEYS: u32 = 1024;
const PER_KEY: usize = 4;

type TimewaitPool = Pool<u32, MakeDummy, Dummy>;
type DeadPool = deadpool::managed::Pool<DeadpoolDummies>;
type Bb8Pool = bb8::Pool<Bb8Dummies>;

/// One checkout, a hold, and the return, through a handle to a pool.
trait Cycle: Clone + Send + 'static {
    /// Checks a connection out, yields once while holding it if `hold`, and
    /// gives it back.
    /// `key` chooses the pool of a keyed party; a single pool ignores it.
    fn cycle(&mut self, key: u32, hold: bool) -> impl Future<Output = ()> + Send;
}

impl Cycle for TimewaitPool {
    async fn cycle(&mut self, key: u32, hold: bool) {
        let conn = self.get(key).await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
        conn.release();
    }
}

impl Cycle for DeadPool {
    async fn cycle(&mut self, _key: u32, hold: bool) {
        let conn = self.get().await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
    }
}

impl Cycle for Bb8Pool {
    async fn cycle(&mut self, _key: u32, hold: bool) {
        let conn = self.get().await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
    }
}

/// The floor: a vector of connections behind a standard mutex.
#[derive(Debug, Clone)]
struct Floor(Arc<Mutex<Vec<Dummy>>>);

impl Floor {
    fn new(size: usize) -> Floor {
        Floor(Arc::new(Mutex::new((0..size as u64).map(Dummy).collect())))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Dummy>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cycle for Floor {
    async fn cycle(&mut self, _key: u32, hold: bool) {
        let conn = loop {
            if let Some(conn) = self.lock().pop() {
                break conn;
            }
            // Empty, and no queue of waiters: let the holders run.
            tokio::task::yield_now().await;
        };
        use_for_a_while(&conn, hold).await;
        self.lock().push(conn);
    }
}

async fn use_for_a_while(conn: &Dummy, hold: bool) {
    black_box(conn.0);
    if hold {
        tokio::task::yield_now().await;
    }
}

/// The four parties, each a pool of `size` connections.
struct Parties {
    timewait: TimewaitPool,
    deadpool: DeadPool,
    bb8: Bb8Pool,
    floor: Floor,
}

impl Parties {
    /// Pools bound to `runtime` (bb8 and `timewait` start their background
    /// tasks on it).
    fn new(runtime: &Runtime, size: usize) -> Parties {
        let config = PoolBuilder::new()
            .close_policy(ClosePolicy::Local)
            .max_open_per_key(size)
            .max_idle_per_key(size)
            .build()
            .expect("a valid configuration");
        let deadpool = DeadPool::builder(DeadpoolDummies)
            .max_size(size)
            .build()
            .expect("a valid configuration");
        let bb8 = runtime.block_on(
            Bb8Pool::builder()
                .max_size(u32::try_from(size).expect("a small pool"))
                .build(Bb8Dummies),
        );
        Parties {
            timewait: Pool::new(config, MakeDummy),
            deadpool,
            bb8: bb8.unwrap_or_else(|never| match never {}),
            floor: Floor::new(size),
        }
    }
}

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

/// deadpool as its users key it: a pool per key.
#[derive(Clone)]
struct DeadpoolMap(Arc<HashMap<u32, DeadPool>>);

impl Cycle for DeadpoolMap {
    async fn cycle(&mut self, key: u32, hold: bool) {
        let pool = self.0.get(&key).expect("a pool per key");
        let conn = pool.get().await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
    }
}

/// bb8 as its users key it: a pool per key.
#[derive(Clone)]
struct Bb8Map(Arc<HashMap<u32, Bb8Pool>>);

impl Cycle for Bb8Map {
    async fn cycle(&mut self, key: u32, hold: bool) {
        let pool = self.0.get(&key).expect("a pool per key");
        let conn = pool.get().await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
    }
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
    let timewait = Pool::new(
        PoolBuilder::new()
            .close_policy(ClosePolicy::Local)
            .max_open_per_key(PER_KEY)
            .max_idle_per_key(PER_KEY)
            .max_total(KEYS as usize * PER_KEY)
            .max_keys(KEYS as usize)
            .build()
            .expect("a valid configuration"),
        MakeDummy,
    );
    let deadpool = DeadpoolMap(Arc::new(
        (0..KEYS)
            .map(|key| {
                let pool = DeadPool::builder(DeadpoolDummies)
                    .max_size(PER_KEY)
                    .build()
                    .expect("a valid configuration");
                (key, pool)
            })
            .collect(),
    ));
    let bb8 = Bb8Map(Arc::new(runtime.block_on(async {
        let mut pools = HashMap::new();
        for key in 0..KEYS {
            let pool = Bb8Pool::builder()
                .max_size(PER_KEY as u32)
                .build(Bb8Dummies)
                .await
                .unwrap_or_else(|never| match never {});
            pools.insert(key, pool);
        }
        pools
    })));
    let mut group = c.benchmark_group("checkout/keyed");
    configure(&mut group);
    bench_keyed(&mut group, &runtime, "timewait", timewait);
    bench_keyed(&mut group, &runtime, "deadpool", deadpool);
    bench_keyed(&mut group, &runtime, "bb8", bb8);
    group.finish();
}

criterion_group!(benches, uncontended, contended, keyed);
criterion_main!(benches);
