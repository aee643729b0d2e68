//! What can key a pool.

use std::fmt::Debug;
use std::hash::Hash;

/// A pool key: anything that names where connections go (a `SocketAddr`, a
/// `(scheme, host, port)` tuple, a backend name). Connections made for one key
/// are only ever lent for that key.
///
/// Implemented for every type with the bounds.
pub trait Key: Clone + Eq + Hash + Debug + Send + Sync + 'static {}

impl<T> Key for T where T: Clone + Eq + Hash + Debug + Send + Sync + 'static {}
