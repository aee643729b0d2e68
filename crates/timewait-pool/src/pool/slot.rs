//! Capacity as a value: one open connection of one key.

use std::sync::Weak;

use crate::book::KeyHash;
use crate::connection::Connection;
use crate::key::Key;
use crate::pool::shared::Shared;

/// One unit of a key's open-connection count, held by whoever has the
/// connection outside the idle set: a checkout that is connecting, a lent
/// [`Pooled`](crate::Pooled) guard, a connection on its way to a waiter.
///
/// Dropping an armed slot gives the unit back (to the next waiter of the key,
/// or to the counts), so a checkout or connect future that is dropped at any
/// point returns its capacity. A slot whose unit moves into the idle set, or
/// was never counted, is disarmed first. Slots must never be dropped armed
/// while the pool's lock is held, since releasing takes the lock.
pub(crate) struct Slot<K: Key, C: Connection> {
    key: K,
    /// The key's hash under the pool's hasher, taken once at checkout.
    hash: KeyHash,
    shared: Weak<Shared<K, C>>,
    connecting: bool,
    armed: bool,
}

impl<K: Key, C: Connection> Slot<K, C> {
    /// A slot for a connection not made yet; counted as connecting.
    pub(crate) fn connecting(key: K, hash: KeyHash, shared: Weak<Shared<K, C>>) -> Self {
        Slot {
            key,
            hash,
            shared,
            connecting: true,
            armed: true,
        }
    }

    pub(crate) fn key(&self) -> &K {
        &self.key
    }

    pub(crate) fn hash(&self) -> KeyHash {
        self.hash
    }

    pub(crate) fn shared(&self) -> &Weak<Shared<K, C>> {
        &self.shared
    }

    pub(crate) fn is_connecting(&self) -> bool {
        self.connecting
    }

    /// The connection exists now (its counts were moved by the caller).
    pub(crate) fn connected(&mut self) {
        self.connecting = false;
    }

    /// The unit stays counted elsewhere; dropping this slot does nothing.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// A disarmed slot of an existing connection holds its unit again.
    pub(crate) fn rearm(&mut self) {
        self.connecting = false;
        self.armed = true;
    }
}

impl<K: Key, C: Connection> Drop for Slot<K, C> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(shared) = self.shared.upgrade() {
            shared.release(&self.key, self.connecting);
        }
    }
}

impl<K: Key, C: Connection> std::fmt::Debug for Slot<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("key", &self.key)
            .field("connecting", &self.connecting)
            .field("armed", &self.armed)
            .finish()
    }
}
