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

/// A value on cache lines of its own: a lock that cores take in turn
/// shares its line with nothing read without it (the fields beside it in a
/// struct would otherwise move between cores with every locking).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct OwnLines<T>(pub(crate) T);

impl<T> std::ops::Deref for OwnLines<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for OwnLines<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
