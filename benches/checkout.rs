//! Checkout and return of a pooled connection, uncontended, against the floor
//! of a `Mutex<Vec<_>>` pop and push. No I/O: the connection is a dummy.
//!
//! Run: `cargo bench --bench checkout`.

use std::hint::black_box;
use std::io;
use std::sync::Mutex;
use std::task::{Context, Poll};

use criterion::{Criterion, criterion_group, criterion_main};
use timewait::core::ledger::Destination;
use timewait::pool::{Connection, Health, PeerClose, Pool};
use tower::{Service, ServiceExt};

/// A connection that is always healthy and closes instantly.
#[derive(Debug)]
struct Dummy(u64);

impl Connection for Dummy {
    fn health(&mut self) -> Health {
        Health::Usable
    }
    fn destination(&self) -> Option<Destination> {
        None
    }
    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        Ok(PeerClose::Fin)
    }
    fn close(self) {}
    fn abort(self) {}
}

#[derive(Debug, Clone)]
struct MakeDummy;

impl Service<u32> for MakeDummy {
    type Response = Dummy;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Dummy>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, key: u32) -> Self::Future {
        std::future::ready(Ok(Dummy(u64::from(key))))
    }
}

fn uncontended(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("checkout/uncontended");

    let config = Pool::<u32, MakeDummy, Dummy>::builder().build().unwrap();
    let pool = Pool::new(config, MakeDummy);
    group.bench_function("timewait", |b| {
        b.to_async(&runtime).iter(|| {
            let mut pool = pool.clone();
            async move {
                let conn = pool.ready().await.unwrap().call(7).await.unwrap();
                black_box(conn.0);
            }
        });
    });

    let floor = Mutex::new(vec![Dummy(7)]);
    group.bench_function("std-mutex-vec", |b| {
        b.iter(|| {
            let conn = floor.lock().unwrap().pop().unwrap();
            black_box(conn.0);
            floor.lock().unwrap().push(conn);
        });
    });
    group.finish();
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
