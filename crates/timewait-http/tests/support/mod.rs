//! Test servers on loopback: a hyper HTTP/1.1 server whose answers a test
//! chooses and whose requests it can read back, and a raw TCP server for
//! exact byte-level cases.
#![allow(dead_code, unreachable_pub)] // each test file uses part of it

#[cfg(feature = "tls")]
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ReplyBody = BoxBody<Bytes, BoxError>;
pub type Responder = Arc<dyn Fn(&Seen) -> Response<ReplyBody> + Send + Sync>;

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which connection (0, 1, ...), in accept order.
    pub conn: usize,
    /// Its number on that connection (0, 1, ...).
    pub nth: usize,
    pub method: Method,
    pub target: String,
    pub host: Option<String>,
    /// It carried `Connection: close`.
    pub close: bool,
    /// Its `Connection` header.
    pub connection: Option<String>,
    pub body: Bytes,
}

pub fn full(body: &'static str) -> ReplyBody {
    http_body_util::Full::new(Bytes::from_static(body.as_bytes()))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Answers `hello\n` to everything.
pub fn hello() -> Responder {
    Arc::new(|_| Response::new(full("hello\n")))
}

/// Sends `requests` GETs of `url` through `client`, split evenly over
/// `tasks` concurrent tasks: each answer must be a success, and `check` is
/// given its whole body.
pub async fn get_from_tasks(
    client: &timewait_http::Client,
    url: &str,
    requests: usize,
    tasks: usize,
    check: fn(&[u8]),
) {
    let mut running = Vec::new();
    for _ in 0..tasks {
        let (client, url) = (client.clone(), url.to_owned());
        running.push(tokio::spawn(async move {
            for _ in 0..requests / tasks {
                let response = client.get(url.as_str()).await.unwrap();
                assert!(response.status().is_success());
                check(&response.into_body().collect().await.unwrap().to_bytes());
            }
        }));
    }
    for t in running {
        t.await.unwrap();
    }
}

/// The same workload through hyper-util's legacy client, for comparison:
/// `requests` GETs of `url` over `tasks` tasks, each body read to its end.
/// The first error any task met, as text, so that a caller can add what
/// the server logged.
pub async fn legacy_get_from_tasks<C>(
    legacy: &LegacyClient<C, Empty<Bytes>>,
    url: &http::Uri,
    requests: usize,
    tasks: usize,
) -> Result<(), String>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let mut running = Vec::new();
    for _ in 0..tasks {
        let (legacy, url) = (legacy.clone(), url.clone());
        running.push(tokio::spawn(async move {
            for nth in 0..requests / tasks {
                let request = Request::get(url.clone()).body(Empty::new()).unwrap();
                let response = legacy
                    .request(request)
                    .await
                    .map_err(|e| format!("request {nth} of a task: {e:?}"))?;
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body {nth} of a task: {e:?}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    let mut first_error = Ok(());
    for t in running {
        let outcome = t.await.unwrap();
        if first_error.is_ok() {
            first_error = outcome;
        }
    }
    first_error
}

/// A hyper HTTP/1.1 server on a fresh loopback port.
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Server {
    /// Keeps connections alive until the client asks to close (then it
    /// closes first).
    pub async fn start(respond: Responder) -> Server {
        Server::start_with(None, respond).await
    }

    /// `idle_close`: also closes a connection idle this long.
    pub async fn start_with(idle_close: Option<Duration>, respond: Responder) -> Server {
        let listener = timewait_echo::fresh_listener(Ipv4Addr::LOCALHOST.into())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (log, count) = (seen.clone(), accepted.clone());
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = count.fetch_add(1, Ordering::SeqCst);
                let (log, respond) = (log.clone(), respond.clone());
                let nth = Arc::new(AtomicUsize::new(0));
                let service = service_fn(move |request: Request<Incoming>| {
                    let (log, respond, nth) = (log.clone(), respond.clone(), nth.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let seen = Seen {
                            conn,
                            nth: nth.fetch_add(1, Ordering::SeqCst),
                            close: parts
                                .headers
                                .get("connection")
                                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close")),
                            connection: parts
                                .headers
                                .get("connection")
                                .map(|h| h.to_str().unwrap_or("?").to_owned()),
                            host: parts
                                .headers
                                .get("host")
                                .map(|h| h.to_str().unwrap_or("?").to_owned()),
                            method: parts.method,
                            target: parts.uri.to_string(),
                            body,
                        };
                        let response = respond(&seen);
                        log.lock().unwrap().push(seen);
                        Ok::<_, Infallible>(response)
                    }
                });
                let mut builder = http1::Builder::new();
                if let Some(idle) = idle_close {
                    builder.timer(TokioTimer::new()).header_read_timeout(idle);
                }
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        Server {
            addr,
            seen,
            accepted,
            accept,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A TCP server on a fresh loopback port that runs `handle` on each
/// connection with its accept index.
pub struct RawServer {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl RawServer {
    pub async fn start<F, Fut>(handle: F) -> RawServer
    where
        F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = timewait_echo::fresh_listener(Ipv4Addr::LOCALHOST.into())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = Arc::new(handle);
        let accept = tokio::spawn(async move {
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, n));
                n += 1;
            }
        });
        RawServer { addr, accept }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Reads one request head (up to the blank line) from `stream`; `None` at
/// EOF.
pub async fn read_head(stream: &mut TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}
