//! Making a new connection for a checkout: the port budget first, then the
//! pool's connector, each wait within the checkout's deadline.
//!
//! The connector is kept type-erased in the pool's shared state
//! ([`MakeConnection`]), so that a checkout, whose type does not name the
//! connector, can connect when room is handed to it while it waits, without
//! carrying a boxed future or a connector of its own all along.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use timewait_core::budget::Admission;
use tokio::time::{Instant, sleep_until};
use tower::{Service, ServiceExt};
use tracing::Instrument;

use crate::conn::Conn;
use crate::connection::Connection;
use crate::connector::ConnectError;
use crate::error::{BoxError, Error, WaitingFor};
use crate::guard::Pooled;
use crate::key::Key;
use crate::lock::Mutex;
use crate::policy::OnPortsExhausted;
use crate::pool::deadline::Deadline;
use crate::pool::shared::Shared;
use crate::pool::slot::Slot;

/// A connection being made, as the erased connector returns it.
pub(crate) type Making<C> = Pin<Box<dyn Future<Output = Result<C, BoxError>> + Send>>;

/// The pool's connector, its type erased.
pub(crate) trait MakeConnection<K, C>: Send + Sync {
    /// Starts a connection for `key` on a clone of the connector (tower's
    /// way: a service that was called is not called again).
    fn make(&self, key: K) -> Making<C>;
}

/// A connector kept as the prototype of the clones that connect.
pub(crate) struct Prototype<S>(Mutex<S>);

impl<S> Prototype<S> {
    pub(crate) fn new(connector: S) -> Self {
        Prototype(Mutex::new(connector))
    }
}

impl<K, C, S> MakeConnection<K, C> for Prototype<S>
where
    K: Key,
    S: Service<K, Response = C> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    fn make(&self, key: K) -> Making<C> {
        let connector = self.0.lock().clone();
        Box::pin(async move { connector.oneshot(key).await.map_err(Into::into) })
    }
}

/// Makes a new connection in `slot`, after the port budget allows it.
pub(crate) async fn connect<K: Key, C: Connection>(
    shared: Arc<Shared<K, C>>,
    wait: Deadline,
    key: K,
    mut slot: Slot<K, C>,
) -> Result<Pooled<K, C>, Error> {
    let shared = &shared;
    wait.within(
        shared,
        &key,
        WaitingFor::Ports,
        wait_for_ports(shared, &key),
    )
    .await??;
    debug_assert!(slot.is_connecting());
    // Set by `Pool::get` before any checkout can connect.
    let Some(connector) = shared.connector() else {
        return Err(Error::Closed);
    };
    let made = wait
        .within(
            shared,
            &key,
            WaitingFor::Connect,
            connector.make(key.clone()),
        )
        .await?;
    let io = match made {
        Ok(io) => io,
        Err(error) => {
            shared.count(&key, |a| a.connect_errors += 1);
            tracing::debug!(%error, "connect failed");
            return Err(map_connect_error(shared, &key, error));
        }
    };
    let destination = io.destination();
    shared.connected(&mut slot, destination);
    tracing::debug!(?destination, "connected");
    let conn = Conn {
        io,
        created: Instant::now(),
        uses: 0,
        destination: destination.map(Box::new),
    };
    Ok(shared.lease(conn, slot, false))
}

/// Waits, or fails, while the destination's ports are spent. The first wait
/// of an episode is logged as a warning that says what it waits for.
async fn wait_for_ports<K: Key, C: Connection>(
    shared: &Arc<Shared<K, C>>,
    key: &K,
) -> Result<(), Error> {
    let mut warned = false;
    loop {
        let now = Instant::now();
        let (admission, destination) = shared.admit(key, now);
        let until = match admission {
            Admission::Go => return Ok(()),
            Admission::WaitUntil(until) => Instant::from_std(until),
            _ => {
                return Err(Error::PortsExhausted {
                    destination,
                    retry_after: None,
                });
            }
        };
        if shared.config.on_exhausted == OnPortsExhausted::Fail {
            return Err(Error::PortsExhausted {
                destination,
                retry_after: Some(until.saturating_duration_since(now)),
            });
        }
        let wait = until.saturating_duration_since(now);
        if !warned {
            warned = true;
            shared.count(key, |a| a.budget_waits += 1);
            let in_time_wait = destination.map(|d| shared.ports_in_time_wait(&d, now));
            tracing::warn!(
                key = ?key,
                destination = ?destination,
                ports_in_time_wait = in_time_wait,
                usable_ports = shared.config.budget.usable_ports(),
                next_port_free_in = ?wait,
                "every ephemeral port toward this destination is in use or in TIME_WAIT: \
                 waiting for one to free (let the server close first to avoid this)"
            );
        }
        let span = tracing::debug_span!("budget_wait", key = ?key, ?destination, ?wait);
        async {
            tracing::debug!("ports spent; waiting for a TIME_WAIT entry to end");
            sleep_until(until).await;
        }
        .instrument(span)
        .await;
        // Counted once over; a wait the checkout timeout cuts short is
        // counted in `timeouts` instead.
        shared.count_budget_wait(key, until.saturating_duration_since(now));
    }
}

/// `EADDRNOTAVAIL` from `connect()` is the kernel saying the ports are spent:
/// the same condition as the budget's, with the same error. For a
/// [`ConnectError`] that is [`ConnectError::is_out_of_ports`] (the same errno
/// from `bind()` means a missing source address instead); for other
/// connectors, an `io::Error` with that errno anywhere in the chain.
fn map_connect_error<K: Key, C: Connection>(
    shared: &Shared<K, C>,
    key: &K,
    error: BoxError,
) -> Error {
    // A `ConnectError` anywhere in the chain (a connector wrapping
    // `TcpConnector`, as an HTTP or TLS connector does) says which call
    // failed; without one, the errno is all there is.
    let out_of_ports = match find_in_chain::<ConnectError>(&*error) {
        Some(connect) => connect.is_out_of_ports(),
        None => chain_has_errno(&*error, libc::EADDRNOTAVAIL),
    };
    if !out_of_ports {
        return Error::Connect(error);
    }
    let destination = shared.destination(key);
    let now = Instant::now();
    let retry_after = destination
        .and_then(|d| shared.next_release(&d, now))
        .map(|t| t.saturating_duration_since(now));
    Error::PortsExhausted {
        destination,
        retry_after,
    }
}

/// The first error of type `E` in `error`'s chain of sources.
fn find_in_chain<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

fn chain_has_errno(error: &(dyn std::error::Error + 'static), errno: i32) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            == Some(errno)
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] io::Error);

    #[test]
    fn a_connect_error_is_found_anywhere_in_a_chain() {
        // An HTTP connector's error wrapping the TCP connector's: a bind
        // that failed with EADDRNOTAVAIL is a missing source address, not
        // spent ports, whatever wraps it.
        #[derive(Debug, thiserror::Error)]
        #[error("http connect")]
        struct Http(#[source] ConnectError);
        let bind = ConnectError::Bind {
            ip: "192.0.2.7".parse().unwrap(),
            addr: "192.0.2.1:80".parse().unwrap(),
            source: io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
        };
        let wrapped = Http(bind);
        let found = find_in_chain::<ConnectError>(&wrapped).unwrap();
        assert!(!found.is_out_of_ports());
        assert!(chain_has_errno(&wrapped, libc::EADDRNOTAVAIL));
    }

    #[test]
    fn eaddrnotavail_is_found_anywhere_in_a_chain() {
        let wrapped = Wrapped(io::Error::from_raw_os_error(libc::EADDRNOTAVAIL));
        assert!(chain_has_errno(&wrapped, libc::EADDRNOTAVAIL));
        let other = Wrapped(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(!chain_has_errno(&other, libc::EADDRNOTAVAIL));
    }
}
