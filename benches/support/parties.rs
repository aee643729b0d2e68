//! The parties of the checkout benches, each a [`Cycle`] (check out, hold,
//! return): `timewait`, deadpool, bb8, the floor of a
//! `std::sync::Mutex<Vec<_>>`, and deadpool and bb8 keyed as their users
//! key them (a pool per key). Shared by `checkout` (criterion, wall time)
//! and `checkout_cost` (instructions under callgrind).
#![allow(dead_code)] // each bench uses part of it

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use timewait::pool::{ClosePolicy, Pool, PoolBuilder};
use tokio::runtime::Runtime;

use crate::dummy::{Bb8Dummies, DeadpoolDummies, Dummy, MakeDummy};

pub(crate) type TimewaitPool = Pool<u32, MakeDummy, Dummy>;

/// The loads the checkout benches share: the key every single-key checkout
/// asks for; the tasks and runtime workers of the contended and keyed
/// loads; the pool sizes of the contended load (most checkouts wait, or
/// none do); the keyed load's keys, and connections a key at most.
pub(crate) const KEY: u32 = 7;
pub(crate) const TASKS: usize = 64;
pub(crate) const WORKERS: usize = 2;
pub(crate) const CONTENDED_SIZES: [usize; 2] = [8, 64];
pub(crate) const KEYS: u32 = 1024;
pub(crate) const PER_KEY: usize = 4;
pub(crate) type DeadPool = deadpool::managed::Pool<DeadpoolDummies>;
pub(crate) type Bb8Pool = bb8::Pool<Bb8Dummies>;

/// One checkout, a hold, and the return, through a handle to a pool.
pub(crate) trait Cycle: Clone + Send + 'static {
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
pub(crate) struct Floor(Arc<Mutex<Vec<Dummy>>>);

impl Floor {
    pub(crate) fn new(size: usize) -> Floor {
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

pub(crate) async fn use_for_a_while(conn: &Dummy, hold: bool) {
    black_box(conn.0);
    if hold {
        tokio::task::yield_now().await;
    }
}

/// The four parties, each a pool of `size` connections.
pub(crate) struct Parties {
    pub(crate) timewait: TimewaitPool,
    pub(crate) deadpool: DeadPool,
    pub(crate) bb8: Bb8Pool,
    pub(crate) floor: Floor,
}

impl Parties {
    /// Pools bound to `runtime` (bb8 and `timewait` start their background
    /// tasks on it).
    pub(crate) fn new(runtime: &Runtime, size: usize) -> Parties {
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

/// The parties of `checkout/keyed`: `timewait` with `keys` keys of at most
/// `per_key` connections; deadpool and bb8 as their users key them, a pool
/// per key in a map built before any clock starts.
pub(crate) struct KeyedParties {
    pub(crate) timewait: TimewaitPool,
    pub(crate) deadpool: DeadpoolMap,
    pub(crate) bb8: Bb8Map,
}

impl KeyedParties {
    pub(crate) fn new(runtime: &Runtime, keys: u32, per_key: usize) -> KeyedParties {
        let timewait = Pool::new(
            PoolBuilder::new()
                .close_policy(ClosePolicy::Local)
                .max_open_per_key(per_key)
                .max_idle_per_key(per_key)
                .max_total(keys as usize * per_key)
                .max_keys(keys as usize)
                .build()
                .expect("a valid configuration"),
            MakeDummy,
        );
        let deadpool = (0..keys)
            .map(|key| {
                let pool = DeadPool::builder(DeadpoolDummies)
                    .max_size(per_key)
                    .build()
                    .expect("a valid configuration");
                (key, pool)
            })
            .collect();
        let bb8 = runtime.block_on(async {
            let mut pools = HashMap::new();
            for key in 0..keys {
                let pool = Bb8Pool::builder()
                    .max_size(u32::try_from(per_key).expect("a small pool"))
                    .build(Bb8Dummies)
                    .await
                    .unwrap_or_else(|never| match never {});
                pools.insert(key, pool);
            }
            pools
        });
        KeyedParties {
            timewait,
            deadpool: DeadpoolMap(Arc::new(deadpool)),
            bb8: Bb8Map(Arc::new(bb8)),
        }
    }
}

/// deadpool as its users key it: a pool per key.
#[derive(Clone)]
pub(crate) struct DeadpoolMap(pub(crate) Arc<HashMap<u32, DeadPool>>);

impl Cycle for DeadpoolMap {
    async fn cycle(&mut self, key: u32, hold: bool) {
        let pool = self.0.get(&key).expect("a pool per key");
        let conn = pool.get().await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
    }
}

/// bb8 as its users key it: a pool per key.
#[derive(Clone)]
pub(crate) struct Bb8Map(pub(crate) Arc<HashMap<u32, Bb8Pool>>);

impl Cycle for Bb8Map {
    async fn cycle(&mut self, key: u32, hold: bool) {
        let pool = self.0.get(&key).expect("a pool per key");
        let conn = pool.get().await.expect("dummies connect");
        use_for_a_while(&conn, hold).await;
    }
}
