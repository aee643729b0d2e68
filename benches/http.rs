//! `http/loopback`: one GET against an in-process hyper HTTP/1.1 server on
//! 127.0.0.1 (the `http-server` example's logic), from 16 concurrent
//! clients.
//!
//! - `timewait-http`: the `timewait-http` crate's `Client` with unlimited
//!   uses per connection: it holds 16 connections and hands them to the
//!   server to close at shutdown (`OPTIONS *` with `Connection: close`);
//! - `timewait-http/max-uses-100`: the same client retiring each connection
//!   after 100 requests, the last carrying `Connection: close`, so the
//!   server closes first;
//! - `hyper-util-legacy`: hyper-util's legacy pooled `Client` with its
//!   default pool (the connector with `TCP_NODELAY`, as `timewait-http`).
//!
//! One iteration is one request: each sample spreads its iterations over the
//! 16 clients (one handle each, cloned before the clock starts) and times
//! them together, so the figure is the time per request at 16 in flight.
//! Each id has a server of its own on a fresh port; after the group, each
//! client is shut down as a user would (`Client::shutdown`, dropping
//! hyper-util's client), and the kernel's census says on which side each
//! id's TIME_WAIT entries landed. Server and clients share one 2-worker
//! runtime.
//!
//! Run: `cargo bench --bench http`.

#[path = "support/loopback.rs"]
#[allow(dead_code)] // `CLIENTS` is the echo group's; this one runs 16
mod loopback;
#[path = "support/tasks.rs"]
mod tasks;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector as LegacyConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use timewait::http::Client;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

const GROUP: &str = "http/loopback";
/// Requests in flight at once.
const IN_FLIGHT: usize = 16;
/// How long a client's shutdown may take: the farewells are local and fast.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(10);

type Legacy = LegacyClient<LegacyConnector, Empty<Bytes>>;

/// A hyper server on a fresh loopback port that answers every request with
/// a short body and keeps connections alive until asked to close (the
/// `http-server` example's logic).
async fn hello_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = timewait_echo::fresh_listener(Ipv4Addr::LOCALHOST.into())
        .await
        .expect("a loopback listener");
    let addr = listener.local_addr().expect("the listener's address");
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|_: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
                });
                // A client's close ends the connection; nothing to report.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, accept)
}

fn uri(server: SocketAddr) -> Uri {
    format!("http://{server}/")
        .parse()
        .expect("an address makes a valid URI")
}

/// GETs through `timewait::http::Client`.
fn timewait_http(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    id: &str,
    max_uses: Option<u64>,
    server: SocketAddr,
) -> Client {
    let client = runtime.block_on(async {
        Client::builder()
            .max_connections_per_host(IN_FLIGHT)
            .pool_max_idle_per_host(IN_FLIGHT)
            .max_uses_per_connection(max_uses)
            .build()
            .expect("a valid configuration")
    });
    let uri = uri(server);
    group.bench_function(id, |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = vec![client.clone(); IN_FLIGHT];
            let uri = uri.clone();
            async move {
                let (elapsed, _) = tasks::timed_tasks(iters, clients, move |client, count| {
                    let uri = uri.clone();
                    async move {
                        for _ in 0..count {
                            let response = client.get(uri.clone()).await.expect("a response");
                            assert!(response.status().is_success(), "the server says OK");
                            response.into_body().collect().await.expect("the body");
                        }
                        client
                    }
                })
                .await;
                elapsed
            }
        });
    });
    client
}

/// GETs through hyper-util's legacy client.
fn hyper_util_legacy(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> Legacy {
    let uri = uri(server);
    let mut connector = LegacyConnector::new();
    connector.set_nodelay(true);
    let client: Legacy = LegacyClient::builder(TokioExecutor::new()).build(connector);
    group.bench_function("hyper-util-legacy", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = vec![client.clone(); IN_FLIGHT];
            let uri = uri.clone();
            async move {
                let (elapsed, _) = tasks::timed_tasks(iters, clients, move |client, count| {
                    let uri = uri.clone();
                    async move {
                        for _ in 0..count {
                            let request = Request::get(uri.clone())
                                .body(Empty::new())
                                .expect("a valid request");
                            let response = client.request(request).await.expect("a response");
                            assert!(response.status().is_success(), "the server says OK");
                            response.into_body().collect().await.expect("the body");
                        }
                        client
                    }
                })
                .await;
                elapsed
            }
        });
    });
    client
}

fn http(c: &mut Criterion) {
    let runtime = tasks::multi_thread(loopback::WORKERS);
    let (unlimited_server, unlimited_accept) = runtime.block_on(hello_server());
    let (used_up_server, used_up_accept) = runtime.block_on(hello_server());
    let (legacy_server, legacy_accept) = runtime.block_on(hello_server());

    let mut group = c.benchmark_group(GROUP);
    loopback::configure(&mut group);
    let unlimited = timewait_http(
        &mut group,
        &runtime,
        "timewait-http",
        None,
        unlimited_server,
    );
    let used_up = timewait_http(
        &mut group,
        &runtime,
        "timewait-http/max-uses-100",
        Some(100),
        used_up_server,
    );
    let legacy = hyper_util_legacy(&mut group, &runtime, legacy_server);
    group.finish();

    runtime.block_on(async {
        for (id, client, server) in [
            ("timewait-http", unlimited, unlimited_server),
            ("timewait-http/max-uses-100", used_up, used_up_server),
        ] {
            let report = client.shutdown(SHUTDOWN_WITHIN).await;
            let activity = client.stats().total.activity;
            eprintln!(
                "{GROUP}/{id}: {} connections; shutdown: {report:?}",
                activity.connects
            );
            loopback::print_time_wait(&format!("{GROUP}/{id}"), server).await;
        }
        drop(legacy);
        loopback::print_time_wait(&format!("{GROUP}/hyper-util-legacy"), legacy_server).await;
        unlimited_accept.abort();
        used_up_accept.abort();
        legacy_accept.abort();
    });
}

criterion_group!(benches, http);
criterion_main!(benches);
