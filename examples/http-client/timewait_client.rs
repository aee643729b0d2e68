//! The workload through a `timewait` pool of hyper connections: the server
//! closes first.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use timewait::pool::{BoxError, Pool, TcpConnector};

use crate::Endpoint;
use crate::placement::FourTuple;
use crate::pooled_http::{CloseRequest, HttpConnection, HttpConnector, request_close};
use crate::workload::{self, Outcome};

type Body = Empty<Bytes>;
type Key = (String, u16);
type HttpPool = Pool<Key, HttpConnector<TcpConnector, Body>, HttpConnection<Body>>;

/// How a retired connection's server is brought to close first.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Retire {
    /// `Connection: close` on a connection's last request; a `HEAD` request
    /// with `Connection: close` as the farewell of an idle connection.
    CloseHeader,
    /// Nobody asks: the pool stops lending a connection `margin` before the
    /// server's keep-alive `timeout` and waits for the server's idle close.
    PeerKeepAlive {
        /// The server's keep-alive (idle) timeout.
        timeout: Duration,
        /// How early to stop lending.
        margin: Duration,
    },
}

/// The pool's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) retire: Retire,
    pub(crate) max_uses: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
    /// How long a retirement waits for the server's FIN; `None`: the pool's
    /// default (5 s), or the keep-alive timeout plus its margin when waiting
    /// for the server's idle close.
    pub(crate) grace: Option<Duration>,
}

/// What the run did, beyond the workload.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) outcome: Outcome,
    pub(crate) connects: u64,
    pub(crate) connections: HashSet<FourTuple>,
    /// Lines for the human-readable report.
    pub(crate) notes: Vec<String>,
}

/// Runs the workload through the pool, then shuts the pool down, retiring
/// every connection so that the server closes first.
pub(crate) async fn run(
    endpoint: &Endpoint,
    requests: u64,
    concurrency: usize,
    settings: Settings,
) -> Result<Run, BoxError> {
    let grace = settings.grace.unwrap_or(match settings.retire {
        Retire::CloseHeader => Duration::from_secs(5),
        Retire::PeerKeepAlive { timeout, margin } => timeout.saturating_add(margin),
    });
    let builder = Pool::builder(HttpConnector::new(TcpConnector::new()))
        .max_open_per_key(concurrency)
        .max_idle_per_key(concurrency)
        .max_uses(settings.max_uses)
        .max_lifetime(settings.max_lifetime)
        .grace(grace);
    let builder = match settings.retire {
        Retire::CloseHeader => {
            builder.farewell(CloseRequest::new(Method::HEAD, endpoint.target.clone()))
        }
        Retire::PeerKeepAlive { timeout, margin } => builder.peer_keep_alive(timeout, margin),
    };
    let pool: HttpPool = builder.build()?;
    let close_on_final_use = matches!(settings.retire, Retire::CloseHeader);
    let connections = Arc::new(Mutex::new(HashSet::new()));

    let one = {
        let pool = pool.clone();
        let endpoint = endpoint.clone();
        let connections = connections.clone();
        move || {
            let pool = pool.clone();
            let endpoint = endpoint.clone();
            let connections = connections.clone();
            async move {
                let key: Key = (endpoint.hostname.clone(), endpoint.port);
                let mut conn = pool.get(key).await?;
                if !conn.is_reused() {
                    connections
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((conn.local_addr(), conn.peer_addr()));
                }
                let mut request = Request::builder()
                    .method(Method::GET)
                    .uri(endpoint.target.clone())
                    .header(HOST, endpoint.host.clone())
                    .body(Body::new())?;
                // The pool retires the connection when this guard comes back:
                // ask the server to close after this response.
                if close_on_final_use && conn.is_final_use() {
                    request_close(&mut request);
                }
                // A failed exchange leaves the connection in an unknown
                // state: the lease is dropped unreleased, and retired.
                let response = conn.send_request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                // The body is read to its end: the exchange is complete.
                conn.release();
                if !status.is_success() {
                    return Err(format!("the server answered {status}").into());
                }
                Ok::<(), BoxError>(())
            }
        }
    };
    let outcome = workload::run(requests, concurrency, one).await;

    let report = pool
        .shutdown(grace.saturating_add(Duration::from_secs(5)))
        .await;
    let stats = pool.stats().total;
    let retired = stats.activity.retired;
    let mut notes = vec![format!(
        "retired: {} closed by the server, {} reset by it, {} closed here, {} aborted, {} timed out",
        retired.by_peer, retired.by_peer_reset, retired.local, retired.aborted, retired.timed_out
    )];
    if !report.completed {
        notes.push(format!(
            "shutdown incomplete: {} connections still lent, {} still waiting for the server",
            report.still_in_use, report.still_retiring
        ));
    }
    let connections =
        std::mem::take(&mut *connections.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Run {
        outcome,
        connects: stats.activity.connects,
        connections,
        notes,
    })
}
