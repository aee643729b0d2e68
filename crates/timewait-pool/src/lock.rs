//! The one lock type of the crate.
//!
//! A `std::sync::Mutex` whose poisoning is ignored: every locked section of
//! the pool is a few pushes, pops and counter updates that leave the state
//! consistent at each step, so a panic elsewhere while it was held (in a
//! user's `Debug` impl, say) does not make the state unusable. It is never
//! held across an `.await`.

use std::sync::{MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(std::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Mutex<T> {
    /// The value, through exclusive access: no locking needed.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}
