//! `echo/framed`: one request through a tokio-util codec (`LinesCodec`, a
//! 64-byte line and its echo) against an in-process echo server, from 8
//! concurrent clients:
//!
//! - `pool-framed`: the clients share a `timewait` pool (8 connections,
//!   farewell `QUIT`); each request checks a connection out, puts the codec
//!   on it (`Pooled::framed`), calls, and releases it at the message
//!   boundary;
//! - `raw-framed`: each client holds one `Framed<TcpStream, LinesCodec>` of
//!   its own, made before the clock starts.
//!
//! The ratio of the two is the cost of the pool and its lease on a framed
//! protocol: a checkout (one `MSG_PEEK`), the codec's buffers per lease,
//! the count of responses owed, and the release. Run: `cargo bench --bench
//! echo -- echo/framed`.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use criterion::Criterion;
use futures_util::{SinkExt, StreamExt};
use timewait::pool::{FarewellMessage, Pool, PoolBuilder, TcpConnector};
use timewait_echo::QUIT;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::codec::{Framed, LinesCodec};

use crate::loopback::{self, CLIENTS};
use crate::{echo_server, tasks};

const GROUP: &str = "echo/framed";
/// 63 bytes, without the newline the codec adds.
const LINE: &str = "timewait framed bench: sixty-three bytes of payload, then LF...";

type EchoPool = Pool<SocketAddr, TcpConnector, TcpStream>;

/// Requests through framed leases over the pool, one checkout each.
fn pool_framed(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> EchoPool {
    let config = PoolBuilder::new()
        .max_open_per_key(CLIENTS)
        .max_idle_per_key(CLIENTS)
        .farewell(FarewellMessage::new(QUIT))
        .build()
        .expect("a valid configuration");
    let pool = Pool::new(config, TcpConnector::new());
    c.bench_function("pool-framed", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = vec![pool.clone(); CLIENTS];
            async move {
                let (elapsed, _) = tasks::timed_tasks(iters, clients, |pool, count| async move {
                    for _ in 0..count {
                        let lease = pool.get(server).await.expect("a connection");
                        let mut conn = lease.framed(LinesCodec::new());
                        let echo = conn.call(LINE).await.expect("an echo");
                        assert_eq!(echo, LINE);
                        conn.release();
                    }
                    pool
                })
                .await;
                elapsed
            }
        });
    });
    pool
}

/// Requests through a `Framed` per client, held by hand.
fn raw_framed(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> Vec<Framed<TcpStream, LinesCodec>> {
    let connections = runtime.block_on(async {
        let mut connections = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            let stream = TcpStream::connect(server).await.expect("a connection");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            connections.push(Framed::new(stream, LinesCodec::new()));
        }
        connections
    });
    let held = Mutex::new(connections);
    c.bench_function("raw-framed", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = std::mem::take(&mut *held.lock().unwrap_or_else(PoisonError::into_inner));
            let held = &held;
            async move {
                let (elapsed, back) =
                    tasks::timed_tasks(iters, clients, |mut conn, count| async move {
                        for _ in 0..count {
                            conn.send(LINE).await.expect("a request");
                            let echo = conn.next().await.expect("an echo").expect("a line");
                            assert_eq!(echo, LINE);
                        }
                        conn
                    })
                    .await;
                *held.lock().unwrap_or_else(PoisonError::into_inner) = back;
                elapsed
            }
        });
    });
    held.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// The `echo/framed` group.
pub(crate) fn framed(c: &mut Criterion) {
    let runtime = tasks::multi_thread(loopback::WORKERS);
    let raw_server = echo_server(&runtime);
    let pooled_server = echo_server(&runtime);
    let mut group = c.benchmark_group(GROUP);
    loopback::configure(&mut group);
    let raw = raw_framed(&mut group, &runtime, raw_server.local_addr());
    let pool = pool_framed(&mut group, &runtime, pooled_server.local_addr());
    group.finish();
    runtime.block_on(async {
        let report = pool.shutdown(Duration::from_secs(5)).await;
        eprintln!("{GROUP}/pool-framed: pool shutdown: {report:?}");
        for mut conn in raw {
            // The server closes first on QUIT, as the pool's farewell has it.
            if conn.send("QUIT").await.is_ok() {
                while let Some(Ok(_)) = conn.next().await {}
            }
        }
        loopback::print_time_wait(&format!("{GROUP}/raw-framed"), raw_server.local_addr()).await;
        loopback::print_time_wait(&format!("{GROUP}/pool-framed"), pooled_server.local_addr())
            .await;
        raw_server.shutdown().await;
        pooled_server.shutdown().await;
    });
}
