//! The workload through `timewait::http::Client`: the server closes first.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::BodyExt;
use timewait::http::{Client, ConnectionInfo};
use timewait::pool::BoxError;

use crate::Endpoint;
use crate::placement::FourTuple;
use crate::workload::{self, Outcome};

/// The client's settings from the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) max_uses: Option<u64>,
    pub(crate) max_lifetime: Option<Duration>,
    /// The server's idle timeout, when it does not announce one.
    pub(crate) server_keep_alive: Option<Duration>,
    pub(crate) margin: Option<Duration>,
    /// How long a retirement waits for the server's FIN.
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

/// Runs the workload through the client, then shuts it down, retiring every
/// connection so that the server closes first.
pub(crate) async fn run(
    endpoint: &Endpoint,
    requests: u64,
    concurrency: usize,
    settings: Settings,
) -> Result<Run, BoxError> {
    let mut builder = Client::builder()
        .max_connections_per_host(concurrency)
        .pool_max_idle_per_host(concurrency)
        .max_uses_per_connection(settings.max_uses)
        .max_connection_lifetime(settings.max_lifetime)
        .server_keep_alive_timeout(settings.server_keep_alive);
    if let Some(margin) = settings.margin {
        builder = builder.keep_alive_margin(margin);
    }
    let grace = settings.grace.unwrap_or(Duration::from_secs(5));
    let client = builder.close_grace(grace).build()?;
    let connections = Arc::new(Mutex::new(HashSet::new()));

    let one = {
        let client = client.clone();
        let uri = endpoint.uri.clone();
        let connections = connections.clone();
        move || {
            let (client, uri, connections) = (client.clone(), uri.clone(), connections.clone());
            async move {
                let response = client.get(uri).await?;
                if let Some(info) = response.extensions().get::<ConnectionInfo>() {
                    if !info.is_reused() {
                        connections
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert((info.local_addr(), info.remote_addr()));
                    }
                }
                let status = response.status();
                // Read to its end: the connection goes back to the pool.
                response.into_body().collect().await?;
                if !status.is_success() {
                    return Err(format!("the server answered {status}").into());
                }
                Ok::<(), BoxError>(())
            }
        }
    };
    let outcome = workload::run(requests, concurrency, one).await;

    let report = client
        .shutdown(grace.saturating_add(Duration::from_secs(5)))
        .await;
    let stats = client.stats().total;
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
