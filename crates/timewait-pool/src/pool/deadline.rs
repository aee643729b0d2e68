//! When a checkout gives up, and the error it gives up with.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::connection::Connection;
use crate::error::{Error, WaitingFor};
use crate::key::Key;
use crate::pool::shared::Shared;

/// When a checkout gives up (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline(pub(crate) Option<Instant>);

impl Deadline {
    /// `timeout` from now; a timeout too long to add is none.
    pub(crate) fn from_now(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|timeout| Instant::now().checked_add(timeout)))
    }

    /// Runs `future` until the deadline; past it, counts and returns
    /// [`Error::Timeout`], naming what the checkout waited for.
    pub(crate) async fn within<K: Key, C: Connection, T>(
        self,
        shared: &Shared<K, C>,
        key: &K,
        waiting_for: WaitingFor,
        future: impl Future<Output = T>,
    ) -> Result<T, Error> {
        let Some(deadline) = self.0 else {
            return Ok(future.await);
        };
        match timeout_at(deadline, future).await {
            Ok(output) => Ok(output),
            Err(_) => Err(self.timed_out(shared, key, waiting_for)),
        }
    }

    /// Counts a checkout that reached its deadline, and says what it waited
    /// for.
    pub(crate) fn timed_out<K: Key, C: Connection>(
        self,
        shared: &Shared<K, C>,
        key: &K,
        waiting_for: WaitingFor,
    ) -> Error {
        shared.count(key, |a| a.timeouts += 1);
        let waited = shared.config.checkout_timeout.unwrap_or_default();
        tracing::debug!(?waited, %waiting_for, "checkout timed out");
        Error::Timeout {
            waited,
            waiting_for,
        }
    }
}
