//! The same workload through hyper-util's legacy pooled client, with its
//! default pool, for comparison: it keeps connections alive and, when it
//! drops them, closes first.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use timewait::pool::BoxError;
use tokio::net::TcpStream;

use crate::Endpoint;
use crate::placement::FourTuple;
use crate::timewait_client::Run;
use crate::workload;

type Connections = Arc<Mutex<HashSet<FourTuple>>>;

/// hyper-util's connector, noting each connection's two ends.
#[derive(Debug, Clone)]
struct Recording {
    inner: HttpConnector,
    connects: Arc<AtomicU64>,
    connections: Connections,
}

impl tower::Service<Uri> for Recording {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(BoxError::from)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let connects = self.connects.clone();
        let connections = self.connections.clone();
        Box::pin(async move {
            let io = connecting.await?;
            connects.fetch_add(1, Ordering::Relaxed);
            let stream = io.inner();
            let ends = (stream.local_addr()?, stream.peer_addr()?);
            connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ends);
            Ok(io)
        })
    }
}

/// Runs the workload through hyper-util's client, then drops the client
/// (and with it every pooled connection).
pub(crate) async fn run(
    endpoint: &Endpoint,
    requests: u64,
    concurrency: usize,
) -> Result<Run, BoxError> {
    let connects = Arc::new(AtomicU64::new(0));
    let connections: Connections = Arc::default();
    let mut http = HttpConnector::new();
    // As the timewait client's `TcpConnector` does.
    http.set_nodelay(true);
    let connector = Recording {
        inner: http,
        connects: connects.clone(),
        connections: connections.clone(),
    };
    let client: Client<Recording, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);

    let one = {
        let client = client.clone();
        let uri = endpoint.uri.clone();
        move || {
            let client = client.clone();
            let uri = uri.clone();
            async move {
                let request = Request::get(uri).body(Empty::<Bytes>::new())?;
                let response = client.request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                if !status.is_success() {
                    return Err(format!("the server answered {status}").into());
                }
                Ok::<(), BoxError>(())
            }
        }
    };
    let outcome = workload::run(requests, concurrency, one).await;
    drop(client);

    let connections =
        std::mem::take(&mut *connections.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Run {
        outcome,
        connects: connects.load(Ordering::Relaxed),
        connections,
        notes: vec!["the client dropped its pooled connections at exit".to_owned()],
    })
}
