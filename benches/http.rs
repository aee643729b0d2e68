//! `http/loopback`: one GET against an in-process hyper HTTP/1.1 server on
//! 127.0.0.1, from 8 concurrent clients.
//!
//! - `timewait-hyper`: hyper's connection API over a `timewait` pool, the way
//!   `examples/http-client` does it (its `pooled_http` module, included
//!   below): the pool holds 8 connections and retires them with a `HEAD`
//!   request carrying `Connection: close`, so the server closes first;
//! - `hyper-util-legacy`: hyper-util's legacy pooled `Client` with its
//!   default pool (the connector with `TCP_NODELAY`, as `TcpConnector`).
//!
//! One iteration is one request: each sample spreads its iterations over the
//! 8 clients (one handle each, cloned before the clock starts) and times them
//! together, so the figure is the time per request at 8 in flight. Each id
//! has a server of its own on a fresh port; after the group, each client is
//! shut down as a user would (the pool's `shutdown`, dropping hyper-util's
//! client), and the kernel's census says on which side each id's TIME_WAIT
//! entries landed. Server and clients share one 2-worker runtime.
//!
//! Run: `cargo bench --bench http`.

#[path = "support/loopback.rs"]
mod loopback;
#[path = "../examples/http-client/pooled_http.rs"]
#[allow(dead_code)] // the example uses more of it than the bench
mod pooled_http;
#[path = "support/tasks.rs"]
mod tasks;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http::header::HOST;
use http::{HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as LegacyConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use loopback::CLIENTS;
use timewait::pool::{Pool, TcpConnector};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use pooled_http::{CloseRequest, HttpConnection, HttpConnector};

const GROUP: &str = "http/loopback";
/// How long the pool's shutdown may take: the farewells are local and fast.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(10);

type Body = Empty<Bytes>;
type HttpPool = Pool<SocketAddr, HttpConnector<TcpConnector, Body>, HttpConnection<Body>>;
type LegacyClient = Client<LegacyConnector, Body>;

/// A hyper server on a fresh loopback port that answers every request with
/// a short body and keeps connections alive.
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

/// GETs through the pool of hyper connections, one checkout each.
fn timewait_hyper(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> HttpPool {
    let host = HeaderValue::from_str(&server.to_string()).expect("an address is a valid Host");
    let target = Uri::from_static("/");
    let pool: HttpPool = Pool::builder(HttpConnector::new(TcpConnector::new()))
        .max_open_per_key(CLIENTS)
        .max_idle_per_key(CLIENTS)
        .farewell(CloseRequest::new(Method::HEAD, target.clone()))
        .build()
        .expect("a valid configuration");
    group.bench_function("timewait-hyper", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = vec![pool.clone(); CLIENTS];
            let (host, target) = (host.clone(), target.clone());
            async move {
                let (elapsed, _) = tasks::timed_tasks(iters, clients, move |pool, count| {
                    let (host, target) = (host.clone(), target.clone());
                    async move {
                        for _ in 0..count {
                            let mut conn =
                                pool.get(server).await.expect("a connection to the server");
                            let request = Request::get(target.clone())
                                .header(HOST, host.clone())
                                .body(Body::new())
                                .expect("a valid request");
                            let response = conn.send_request(request).await.expect("a response");
                            assert!(response.status().is_success(), "the server says OK");
                            response.into_body().collect().await.expect("the body");
                            conn.release();
                        }
                        pool
                    }
                })
                .await;
                elapsed
            }
        });
    });
    pool
}

/// GETs through hyper-util's legacy client.
fn hyper_util_legacy(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    server: SocketAddr,
) -> LegacyClient {
    let uri: Uri = format!("http://{server}/")
        .parse()
        .expect("an address makes a valid URI");
    let mut connector = LegacyConnector::new();
    connector.set_nodelay(true);
    let client: LegacyClient = Client::builder(TokioExecutor::new()).build(connector);
    group.bench_function("hyper-util-legacy", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let clients = vec![client.clone(); CLIENTS];
            let uri = uri.clone();
            async move {
                let (elapsed, _) = tasks::timed_tasks(iters, clients, move |client, count| {
                    let uri = uri.clone();
                    async move {
                        for _ in 0..count {
                            let request = Request::get(uri.clone())
                                .body(Body::new())
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
    let (pooled_server, pooled_accept) = runtime.block_on(hello_server());
    let (legacy_server, legacy_accept) = runtime.block_on(hello_server());

    let mut group = c.benchmark_group(GROUP);
    loopback::configure(&mut group);
    let pool = timewait_hyper(&mut group, &runtime, pooled_server);
    let client = hyper_util_legacy(&mut group, &runtime, legacy_server);
    group.finish();

    runtime.block_on(async {
        let report = pool.shutdown(SHUTDOWN_WITHIN).await;
        eprintln!("{GROUP}/timewait-hyper: pool shutdown: {report:?}");
        loopback::print_time_wait(&format!("{GROUP}/timewait-hyper"), pooled_server).await;
        drop(client);
        loopback::print_time_wait(&format!("{GROUP}/hyper-util-legacy"), legacy_server).await;
        pooled_accept.abort();
        legacy_accept.abort();
    });
}

criterion_group!(benches, http);
criterion_main!(benches);
