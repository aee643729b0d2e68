//! What the pool keeps in its books: the idle item, the waiter, and the
//! handoff a waiter receives.

use tokio::sync::oneshot;

use crate::book::{Book, Keyed, StripeRef, Waiting};
use crate::conn::Conn;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::slot::Slot;

/// The pool's books, over its idle connections and waiting checkouts.
pub(crate) type Books<K, C> = Book<K, Idle<K, C>, Sender<K, C>>;

/// A lease's way back to its key's stripe of idle connections.
pub(crate) type IdleStripe<K, C> = StripeRef<K, Idle<K, C>>;

/// Where a waiting checkout receives its handoff.
pub(crate) type Sender<K, C> = oneshot::Sender<Handoff<K, C>>;

impl<K: Key, C: Connection> Waiting for Sender<K, C> {
    fn is_gone(&self) -> bool {
        self.is_closed()
    }
}

/// A connection in the idle set.
#[derive(Debug)]
pub(crate) struct Idle<K: Key, C: Connection> {
    pub(crate) conn: Conn<C>,
    /// The slot it was lent with, disarmed (the books count its unit): kept
    /// so that lending it again clones neither the key nor the pool's
    /// handle.
    pub(crate) slot: Slot<K, C>,
}

impl<K: Key, C: Connection> Idle<K, C> {
    /// A connection going to the idle set: its slot is disarmed.
    pub(crate) fn new(conn: Conn<C>, mut slot: Slot<K, C>) -> Self {
        slot.disarm();
        Idle { conn, slot }
    }

    /// Takes the connection out of the idle set: its slot holds its unit
    /// again.
    pub(crate) fn into_lent(self) -> (Conn<C>, Slot<K, C>) {
        let mut slot = self.slot;
        slot.rearm();
        (self.conn, slot)
    }
}

impl<K: Key, C: Connection> Keyed<K> for Idle<K, C> {
    fn key(&self) -> &K {
        self.slot.key()
    }
}

/// What a waiting checkout receives.
#[derive(Debug)]
pub(crate) enum Handoff<K: Key, C: Connection> {
    /// A connection checked in by another checkout, with its slot.
    Conn(Conn<C>, Slot<K, C>),
    /// Room to make a new connection (a connecting slot).
    Slot(Slot<K, C>),
}
