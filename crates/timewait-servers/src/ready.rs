//! Waiting, within a bound, until a freshly started server answers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::ServerError;
use crate::process::Process;

/// How long one probe may take before it counts as failed.
const PROBE_WITHIN: Duration = Duration::from_secs(2);
/// The pause between failed probes.
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// Probes `addr` with `probe` until it succeeds, the process exits, or
/// `within` has passed; the errors carry the tail of the server's log.
pub(crate) async fn wait_ready<F, Fut>(
    server: &'static str,
    process: &mut Process,
    addr: SocketAddr,
    within: Duration,
    probe: F,
) -> Result<(), ServerError>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(status) = process.exited()? {
            return Err(ServerError::Exited {
                server,
                status,
                log_tail: process.log_tail(),
            });
        }
        let last_probe = match tokio::time::timeout(PROBE_WITHIN, probe(addr)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {PROBE_WITHIN:?}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(ServerError::NotReady {
                server,
                addr,
                within,
                last_probe,
                log_tail: process.log_tail(),
            });
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}
