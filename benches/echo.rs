//! `echo/loopback`: one request (a 64-byte line and its echo) against an
//! in-process `timewait_echo::EchoServer` on 127.0.0.1, from 8 concurrent
//! clients.
//!
//! - `pool-peer-first`: the clients share a `timewait` pool (8 connections,
//!   the echo farewell `QUIT`, so the server closes first when the pool
//!   retires a connection) and check a connection out per request, released
//!   once its echo is read; each reuse checks the connection first
//!   (`HealthCheck::Always`, one `MSG_PEEK`);
//! - `pool-peer-first-unchecked`: the same with `HealthCheck::Never`, to
//!   price the check;
//! - `raw-persistent`: each client holds one connection of its own, made
//!   before the clock starts: the limit a pool can approach;
//! - `connect-per-request`: each request connects, exchanges and closes
//!   (the client closes first and keeps the TIME_WAIT entry).
//!
//! One iteration is one request: each sample spreads its iterations over the
//! 8 clients and times them together, so the figure is the time per request
//! at 8 in flight (the inverse of throughput). Server and clients share one
//! 2-worker runtime.
//!
//! `connect-per-request` spends one ephemeral port per request, each held in
//! TIME_WAIT for 60 s (loopback has `tcp_tw_reuse` = 2, so the kernel reuses
//! them after a second, but the range is finite): a probe of its rate sizes
//! its warm-up and measurement so that the whole run stays within
//! [`CONNECT_BUDGET`] connects.
//!
//! Run: `cargo bench --bench echo`. The same binary runs `echo/framed`
//! (`support/framed.rs`): a codec over the pool's framed lease against a
//! `Framed` held by hand.

#[path = "support/framed.rs"]
mod framed;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/tasks.rs"]
mod tasks;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main};
use loopback::CLIENTS;
use timewait::pool::{FarewellMessage, HealthCheck, Pool, PoolBuilder, TcpConnector};
use timewait_echo::{
    EchoHandle, EchoServer, QUIT, connect_and_exchange, exchange, quit_and_wait_for_close,
};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

const GROUP: &str = "echo/loopback";
/// 63 bytes and the newline.
const LINE: &[u8; 64] = b"timewait echo bench: sixty-three bytes of payload, then a LF...\n";
/// Connects that `connect-per-request` may make in one run, probe included.
const CONNECT_BUDGET: u64 = 12_000;
/// Connects of the probe that measures its rate: the first ones only warm up.
const PROBE_WARM_UP: u64 = 200;
const PROBE_CONNECTS: u64 = 800;
/// Criterion sizes the measurement from the warm-up's rate, which can be
/// faster than the probe's (fewer TIME_WAIT entries in the way, a warmer
/// cache): plan for this many times the probe's rate.
const RATE_MARGIN: f64 = 2.0;
/// Of the budget left after the probe: the warm-up's share (criterion's
/// warm-up may run past its time up to twice, so this share counts double).
const WARM_UP_SHARE: f64 = 0.1;

type EchoPool = Pool<SocketAddr, TcpConnector, TcpStream>;

/// An echo server on a fresh loopback port, so that the TIME_WAIT entries
/// toward that port are one benchmark's alone.
fn echo_server(runtime: &Runtime) -> EchoHandle {
    runtime.block_on(async {
        let listener = timewait_echo::fresh_listener(Ipv4Addr::LOCALHOST.into())
            .await
            .expect("a loopback listener");
        // Connections held between samples must not be closed for idleness.
        EchoServer::new(listener).idle_timeout(None).spawn()
    })
}

/// Requests through the pool, one checkout each, under bench id `id`.
fn pool_peer_first(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
    (id, check): (&str, HealthCheck),
) -> EchoPool {
    let config = PoolBuilder::new()
        .max_open_per_key(CLIENTS)
        .max_idle_per_key(CLIENTS)
        .farewell(FarewellMessage::new(QUIT))
        .health_check(check)
        .build()
        .expect("a valid configuration");
    let pool = Pool::new(config, TcpConnector::new());
    group.bench_function(id, |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = vec![pool.clone(); CLIENTS];
            async move {
                let (elapsed, _) = tasks::timed_tasks(iters, clients, |pool, count| async move {
                    let mut reply = Vec::with_capacity(LINE.len());
                    for _ in 0..count {
                        let mut conn = pool
                            .get(server)
                            .await
                            .expect("a connection to the echo server");
                        exchange(&mut *conn, LINE, &mut reply)
                            .await
                            .expect("an echo");
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

/// Requests over connections held by hand, one per client.
fn raw_persistent(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> Vec<TcpStream> {
    let connections = runtime.block_on(async {
        let mut connections = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            // As `TcpConnector` makes them.
            let stream = TcpStream::connect(server).await.expect("a connection");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            connections.push(stream);
        }
        connections
    });
    // Kept here between samples; each sample lends them to its clients.
    let held = Mutex::new(connections);
    group.bench_function("raw-persistent", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = std::mem::take(&mut *held.lock().unwrap_or_else(PoisonError::into_inner));
            let held = &held;
            async move {
                let (elapsed, back) =
                    tasks::timed_tasks(iters, clients, |mut conn, count| async move {
                        let mut reply = Vec::with_capacity(LINE.len());
                        for _ in 0..count {
                            exchange(&mut conn, LINE, &mut reply)
                                .await
                                .expect("an echo");
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

/// Requests on a new connection each; returns how many connects it made.
fn connect_per_request(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> u64 {
    let connects = Arc::new(AtomicU64::new(0));
    let run = |iters: u64| {
        let clients = vec![connects.clone(); CLIENTS];
        tasks::timed_tasks(iters, clients, move |connects, count| async move {
            let mut reply = Vec::with_capacity(LINE.len());
            for _ in 0..count {
                connects.fetch_add(1, Ordering::Relaxed);
                connect_and_exchange(server, LINE, &mut reply)
                    .await
                    .expect("a connection and an echo");
            }
            connects
        })
    };
    runtime.block_on(run(PROBE_WARM_UP));
    let (probe, _) = runtime.block_on(run(PROBE_CONNECTS));
    let per_connect = probe.div_f64(PROBE_CONNECTS as f64 * RATE_MARGIN);
    eprintln!(
        "{GROUP}/connect-per-request: the probe took {:?} per connect",
        probe.div_f64(PROBE_CONNECTS as f64)
    );
    let left = CONNECT_BUDGET.saturating_sub(PROBE_WARM_UP + PROBE_CONNECTS) as f64;
    let warm_up = per_connect.mul_f64(left * WARM_UP_SHARE / 2.0);
    let measurement = per_connect.mul_f64(left * (1.0 - WARM_UP_SHARE));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(warm_up.max(Duration::from_millis(1)))
        .measurement_time(measurement.max(Duration::from_millis(1)));
    group.bench_function("connect-per-request", |b| {
        b.to_async(runtime)
            .iter_custom(|iters| async move { run(iters).await.0 });
    });
    connects.load(Ordering::Relaxed)
}

fn echo(c: &mut Criterion) {
    let runtime = tasks::multi_thread(loopback::WORKERS);
    let servers = [(); 4].map(|()| echo_server(&runtime));
    let [raw_server, pooled_server, unchecked_server, connect_server] =
        servers.each_ref().map(EchoHandle::local_addr);

    let mut group = c.benchmark_group(GROUP);
    loopback::configure(&mut group);
    let raw = raw_persistent(&mut group, &runtime, raw_server);
    let checked = ("pool-peer-first", HealthCheck::Always);
    let pool = pool_peer_first(&mut group, &runtime, pooled_server, checked);
    let unchecked = ("pool-peer-first-unchecked", HealthCheck::Never);
    let unchecked_pool = pool_peer_first(&mut group, &runtime, unchecked_server, unchecked);
    let connects = connect_per_request(&mut group, &runtime, connect_server);
    group.finish();
    eprintln!("{GROUP}/connect-per-request: {connects} connects");

    runtime.block_on(async {
        // Each client ends as its kind would: the pool says QUIT, so the
        // server closes first, and so do the hand-held connections here.
        for (id, pool) in [
            ("pool-peer-first", &pool),
            ("pool-peer-first-unchecked", &unchecked_pool),
        ] {
            let report = pool.shutdown(Duration::from_secs(5)).await;
            eprintln!("{GROUP}/{id}: pool shutdown: {report:?}");
        }
        for mut conn in raw {
            if let Err(error) = quit_and_wait_for_close(&mut conn).await {
                eprintln!("{GROUP}/raw-persistent: a connection did not close cleanly: {error}");
            }
        }
        loopback::print_time_wait(&format!("{GROUP}/raw-persistent"), raw_server).await;
        loopback::print_time_wait(&format!("{GROUP}/pool-peer-first"), pooled_server).await;
        loopback::print_time_wait(
            &format!("{GROUP}/pool-peer-first-unchecked"),
            unchecked_server,
        )
        .await;
        loopback::print_time_wait(&format!("{GROUP}/connect-per-request"), connect_server).await;
        for server in servers {
            server.shutdown().await;
        }
    });
}

criterion_group!(benches, echo, framed::framed);
criterion_main!(benches);
