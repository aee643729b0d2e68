//! The background task that retires idle connections at their deadline.

use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;

/// Sleeps until the earliest idle deadline, retires what is due, and repeats;
/// woken early when an earlier deadline appears. Ends when the pool is gone:
/// it holds only a weak reference between rounds.
pub(crate) async fn run<K: Key, C: Connection>(pool: Weak<Shared<K, C>>, wake: Arc<Notify>) {
    loop {
        let Some(shared) = pool.upgrade() else { return };
        let next = shared.reap(Instant::now());
        drop(shared);
        match next {
            Some(deadline) => {
                tokio::select! {
                    () = sleep_until(deadline) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
