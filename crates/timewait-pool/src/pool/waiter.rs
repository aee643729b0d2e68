//! A checkout waiting in its key's queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::connection::Connection;
use crate::key::Key;
use crate::pool::state::Handoff;

/// Resolves to what another checkout handed over, or to `None` when the pool
/// closed the queue.
///
/// Dropped early, it closes its channel and gives back anything that was
/// already sent to it, so a cancelled waiter never keeps a connection or a
/// slot that the next waiter should have had.
pub(crate) struct Waiter<K: Key, C: Connection> {
    rx: oneshot::Receiver<Handoff<K, C>>,
    /// The channel gave its answer: nothing can be in it any more.
    answered: bool,
}

impl<K: Key, C: Connection> Waiter<K, C> {
    pub(crate) fn new(rx: oneshot::Receiver<Handoff<K, C>>) -> Self {
        Waiter {
            rx,
            answered: false,
        }
    }
}

impl<K: Key, C: Connection> Future for Waiter<K, C> {
    type Output = Option<Handoff<K, C>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answer = std::task::ready!(Pin::new(&mut self.rx).poll(cx));
        self.answered = true;
        Poll::Ready(answer.ok())
    }
}

impl<K: Key, C: Connection> Drop for Waiter<K, C> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.rx.close();
        match self.rx.try_recv() {
            Ok(Handoff::Conn(conn, slot)) => {
                if let Some(shared) = slot.shared().upgrade() {
                    // Counted as a reuse when it was handed over; it was not.
                    shared.uncount_reuse(slot.key());
                    Arc::clone(&shared).checkin(conn, slot, None, false);
                }
            }
            // Dropping the slot gives its unit to the next waiter.
            Ok(Handoff::Slot(slot)) => drop(slot),
            Err(_) => {}
        }
    }
}

impl<K: Key, C: Connection> Handoff<K, C> {
    /// Takes the handoff out of the counts' hands: its slot is disarmed, so
    /// the caller keeps the counts as they are.
    pub(crate) fn disarm(self) {
        match self {
            Handoff::Conn(_, mut slot) | Handoff::Slot(mut slot) => slot.disarm(),
        }
    }
}
