//! Every key's idle connections, in stripes chosen by the key's hash, each
//! stripe under its own lock: the part of the books that a checkout served
//! by an idle connection, and a release that parks one, touch.
//!
//! Those two are most of a pool's steps, and they need nothing of the rest
//! of the books when no limit binds: a checkout that finds an idle
//! connection of its key takes it (the key's unit moves from idle to lent,
//! so no count changes); a release parks its connection when nothing waits
//! anywhere, the pool is open, and the reaper is already due by the new
//! deadline. So they take only their key's stripe ([`IdleSets::lend`],
//! and [`StripeRef::park`] through the lease's way back to its stripe), and
//! different keys rarely meet on one lock. Every other step goes through
//! the books, under the pool's lock, and takes the stripes it needs after
//! it: the order is always the books, then a stripe.
//!
//! # Concurrency note
//!
//! A fast park must never strand what the books decided without seeing it.
//! Each of the three things it checks (the [`Gate`]'s flags, closed and
//! checkouts waiting, and the reaper's next round, copied into each stripe)
//! is written by the books *before* they look into the stripes, and read by
//! a park under its stripe's lock: a park that ran before the books looked
//! at its stripe is seen by them; one that runs after sees what they wrote,
//! and goes through the books instead. So:
//! - a checkout about to wait first raises the waiting flag, then looks for
//!   an idle connection of its key or one of another key to evict: a
//!   release either parked where it looks, or sees the flag and goes
//!   through the books, which hand it over;
//! - a reaper round first clears its next round in every stripe, then
//!   sweeps: a release either parked where it sweeps, or sees no round due
//!   and asks the books for one;
//! - a shutdown first closes the gate, then drains the sets.
//!
//! A fast lend only takes, and it can take between a books step's look into
//! a stripe and what the step does with what it saw (the step's
//! [`window`](IdleSets::window), where tests run one). So the books decide
//! and act under one stripe lock where it matters, or look again: a key is
//! forgotten only if it is still at rest under its stripe's lock (a key
//! with a connection out never is), and an eviction victim found emptied
//! passes the choice to the next key. A lend reads the gate's closed flag
//! under its stripe's lock, so none takes a connection once a shutdown has
//! begun.
//!
//! The stripe's lock orders the two sides (a write before the books take
//! the lock, a read after the park takes it), so the gate's atomics need no
//! ordering of their own, and the copy of the reaper's next round is written
//! under each stripe's lock, so a park compares two instants. The books write
//! the waiting flag only when it flips: while checkouts keep waiting (a busy
//! key at its limit), its cache line is not written at all.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hashbrown::HashTable;
use tokio::time::Instant;

use crate::book::keymap::{KeyHash, KeyHasher};
use crate::config::Ends;
use crate::key::Key;
use crate::lock::Mutex;

mod set;

pub(crate) use set::{IdleSet, IdleTimes, Keyed, Tally};

/// What the books tell a fast park, without their lock (see the
/// [module](self)). On cache lines of its own: every fast step on every
/// stripe reads it, and a stripe's reference count allocated beside it
/// would make those reads miss whenever that stripe is busy on another
/// core.
#[derive(Debug)]
#[repr(align(128))]
struct Gate {
    closed: AtomicBool,
    /// Checkouts wait (gone ones included), or one is deciding whether it
    /// waits.
    waiting: AtomicBool,
}

impl Gate {
    fn is_quiet(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && !self.waiting.load(Ordering::Relaxed)
    }
}

/// One stripe: the idle sets of its keys, and the reaper's next round as
/// the books last told it (a copy in each stripe, written under its lock,
/// so that a park compares two instants and reads no shared clock state).
#[derive(Debug)]
struct StripeState<K, I> {
    sets: HashTable<(K, IdleSet<I>)>,
    next_reap: Option<Instant>,
}

impl<K: Key, I> StripeState<K, I> {
    /// The set of `key`, whose hash is `hash`.
    fn set(&mut self, hash: KeyHash, key: &K) -> Option<&mut IdleSet<I>> {
        let (_, set) = self.sets.find_mut(hash.bits(), |(k, _)| k == key)?;
        Some(set)
    }

    /// Whether a park with `deadline` may skip the books: the reaper comes
    /// by then anyway (the gate said nothing waits and the pool is open).
    fn reaper_due_by(&self, deadline: Option<Instant>) -> bool {
        match deadline {
            None => true,
            Some(deadline) => self.next_reap.is_some_and(|next| deadline >= next),
        }
    }
}

/// One stripe: its lock, and what a park through a lease's [`StripeRef`]
/// needs besides (the gate, the sets' bound, the rules that end a
/// connection's use or rest).
///
/// Each stripe is an `Arc` of its own, whose reference count every lend and
/// release through a `StripeRef` writes. The lock comes first and the
/// stripe is not over-aligned, so that the count, just before it in the
/// allocation, usually shares its cache line: a step that takes the lock
/// then moves one line between cores, not two (over-aligned, the count
/// would have a line of its own). The padding after keeps other stripes'
/// locks off these lines.
#[repr(C)]
struct Stripe<K, I> {
    state: Mutex<StripeState<K, I>>,
    gate: Arc<Gate>,
    max_idle: usize,
    /// Read by a lease through its [`StripeRef`], which so carries no copy.
    ends: Ends,
    _padding: [u64; 16],
}

impl<K: fmt::Debug, I: fmt::Debug> fmt::Debug for Stripe<K, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stripe")
            .field("state", &self.state)
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl<K: Key, I> Stripe<K, I> {
    /// See [`StripeRef::park`].
    fn park(&self, hash: KeyHash, item: I, released: bool, times: IdleTimes) -> Result<Option<I>, I>
    where
        I: Keyed<K>,
    {
        let mut stripe = self.state.lock();
        // Read under the stripe's lock: see the module's concurrency note.
        if !self.gate.is_quiet() || !stripe.reaper_due_by(times.deadline) {
            return Err(item);
        }
        let Some(set) = stripe.set(hash, item.key()).filter(|set| set.listed) else {
            return Err(item);
        };
        if released {
            set.counted.released += 1;
        }
        Ok(set.park(item, times, self.max_idle))
    }
}

/// A lent connection's way back to its key's stripe, held by its lease: a
/// release parks through it with no pool-wide reference count touched
/// (each release would otherwise write the pool's own count, one cache
/// line for every key and core). Once the pool is gone its gate is closed,
/// and every park through it is refused.
#[derive(Debug)]
pub(crate) struct StripeRef<K, I>(Arc<Stripe<K, I>>);

impl<K, I> StripeRef<K, I> {
    /// What ends a connection's use or rest, in the pool it belongs to.
    pub(crate) fn ends(&self) -> &Ends {
        &self.0.ends
    }

    /// As [`IdleSets::is_quiet`]: a hint that a park may be fast.
    pub(crate) fn is_quiet(&self) -> bool {
        self.0.gate.is_quiet()
    }
}

impl<K: Key, I: Keyed<K>> StripeRef<K, I> {
    /// The fast check-in: parks `item` (released, if `released`) with
    /// `times` when nothing of the rest of the books is needed; at the key's
    /// idle limit, returns the connection it displaced. Gives `item` back
    /// when the books must take it.
    pub(crate) fn park(
        &self,
        hash: KeyHash,
        item: I,
        released: bool,
        times: IdleTimes,
    ) -> Result<Option<I>, I> {
        self.0.park(hash, item, released, times)
    }
}

/// Every key's idle set, striped by the key's hash (see the [module](self)).
#[derive(Debug)]
pub(crate) struct IdleSets<K, I> {
    stripes: Box<[Arc<Stripe<K, I>>]>,
    /// Stripe count less one (a power of two less one).
    mask: usize,
    gate: Arc<Gate>,
    /// Tests run a fast step here, in a window of a books step between a
    /// look into a stripe and what the books do with what they saw.
    #[cfg(test)]
    between: Between,
}

/// A fast step a test runs in a books step's window.
#[cfg(test)]
#[derive(Default)]
struct Between(Mutex<Option<Box<dyn FnOnce() + Send>>>);

#[cfg(test)]
impl std::fmt::Debug for Between {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Between")
    }
}

/// The most stripes a pool has; a pool with fewer keys has fewer. As many
/// as that on any machine: what they save is not only two threads meeting
/// on one lock, but a stripe's lock moving between cores' caches whenever
/// two threads use keys of the same stripe in turn.
const MAX_STRIPES: usize = 64;

impl<K: Key, I> IdleSets<K, I> {
    /// Sets for at most `max_keys` keys, each of at most `max_idle`
    /// connections.
    pub(crate) fn new(max_keys: usize, max_idle: usize, ends: Ends) -> Self {
        let count = max_keys.clamp(1, MAX_STRIPES).next_power_of_two();
        let gate = Arc::new(Gate {
            closed: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
        });
        let stripes = (0..count)
            .map(|_| {
                Arc::new(Stripe {
                    state: Mutex::new(StripeState {
                        sets: HashTable::new(),
                        next_reap: None,
                    }),
                    gate: Arc::clone(&gate),
                    max_idle,
                    ends,
                    _padding: [0; 16],
                })
            })
            .collect();
        IdleSets {
            stripes,
            mask: count - 1,
            gate,
            #[cfg(test)]
            between: Between::default(),
        }
    }

    /// A window of a books step where a fast step may come between a look
    /// into a stripe and what the books do with it: tests run one there.
    pub(crate) fn window(&self) {
        #[cfg(test)]
        if let Some(step) = self.between.0.lock().take() {
            step();
        }
    }

    /// Runs `step` at the next [`window`](Self::window).
    #[cfg(test)]
    fn at_next_window(&self, step: impl FnOnce() + Send + 'static) {
        *self.between.0.lock() = Some(Box::new(step));
    }

    fn stripe(&self, hash: KeyHash) -> &Arc<Stripe<K, I>> {
        // The bits above those that pick a bucket inside a stripe's table,
        // and below those its control bytes keep.
        let index = (hash.bits() >> 32) as usize & self.mask;
        &self.stripes[index]
    }

    /// The way back to the stripe of a key whose hash is `hash`, for a
    /// connection of the key about to be lent.
    pub(crate) fn stripe_ref(&self, hash: KeyHash) -> StripeRef<K, I> {
        StripeRef(Arc::clone(self.stripe(hash)))
    }

    /// Whether nothing waits and the pool is open, as last told: when
    /// checkouts wait, idle connections are rare (each release goes to a
    /// waiter), and the fast steps would mostly take a stripe's lock for
    /// nothing before the books'. A hint only: a park checks
    /// again under its stripe's lock.
    pub(crate) fn is_quiet(&self) -> bool {
        self.gate.is_quiet()
    }

    /// The fast checkout: the warmest idle connection of `key`, counted as
    /// a reuse, if it has one.
    pub(crate) fn lend(&self, hash: KeyHash, key: &K) -> Option<(I, IdleTimes)> {
        let mut stripe = self.stripe(hash).state.lock();
        // Read under the stripe's lock: a shutdown closes the gate before
        // it drains, so no lend takes a connection once it has begun.
        if self.gate.closed.load(Ordering::Relaxed) {
            return None;
        }
        stripe.set(hash, key)?.lend()
    }

    /// [`StripeRef::park`] into the stripe of `hash`: the pool parks
    /// through a lease's way back, tests through this.
    #[cfg(test)]
    pub(crate) fn park(
        &self,
        hash: KeyHash,
        item: I,
        released: bool,
        times: IdleTimes,
    ) -> Result<Option<I>, I>
    where
        I: Keyed<K>,
    {
        self.stripe(hash).park(hash, item, released, times)
    }

    /// The books' check-in: parks `item` in the set of its key, which joins
    /// the order of keys with idle connections (the books put it there);
    /// returns the connection it displaced, or gives `item` back if the key
    /// has no set.
    pub(crate) fn park_listed(
        &self,
        hash: KeyHash,
        item: I,
        times: IdleTimes,
    ) -> Result<Option<I>, I>
    where
        I: Keyed<K>,
    {
        let stripe = self.stripe(hash);
        let mut state = stripe.state.lock();
        let Some(set) = state.set(hash, item.key()) else {
            return Err(item);
        };
        set.listed = true;
        Ok(set.park(item, times, stripe.max_idle))
    }

    /// Runs `f` on the set of `key`, if the key is remembered.
    pub(crate) fn with<R>(
        &self,
        hash: KeyHash,
        key: &K,
        f: impl FnOnce(&mut IdleSet<I>) -> R,
    ) -> Option<R> {
        Some(f(self.stripe(hash).state.lock().set(hash, key)?))
    }

    /// An empty set for a key the books now remember.
    pub(crate) fn insert(&self, hasher: &KeyHasher, hash: KeyHash, key: &K) {
        let mut stripe = self.stripe(hash).state.lock();
        if stripe.sets.find(hash.bits(), |(k, _)| k == key).is_none() {
            stripe
                .sets
                .insert_unique(hash.bits(), (key.clone(), IdleSet::new()), |(k, _)| {
                    hasher.hash(k).bits()
                });
        }
    }

    /// Takes out the set of a key the books forget, if `forgettable` says
    /// so under the stripe's lock.
    pub(crate) fn remove_if(
        &self,
        hash: KeyHash,
        key: &K,
        forgettable: impl FnOnce(&IdleSet<I>) -> bool,
    ) -> Option<IdleSet<I>> {
        let mut stripe = self.stripe(hash).state.lock();
        let entry = stripe
            .sets
            .find_entry(hash.bits(), |(k, _)| k == key)
            .ok()?;
        if !forgettable(&entry.get().1) {
            return None;
        }
        Some(entry.remove().0.1)
    }

    /// Runs `f` on every set, one stripe locked at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &mut IdleSet<I>)) {
        for stripe in &*self.stripes {
            for (key, set) in stripe.state.lock().sets.iter_mut() {
                f(key, set);
            }
        }
    }

    /// Closes the gate: no park skips the books from now on.
    pub(crate) fn close(&self) {
        self.gate.closed.store(true, Ordering::Relaxed);
    }

    /// Whether checkouts wait (or, before the books look into the stripes,
    /// one may); written only when it flips. Says whether it was raised
    /// just now.
    pub(crate) fn set_waiting(&self, waiting: bool) -> bool {
        let flips = self.gate.waiting.load(Ordering::Relaxed) != waiting;
        if flips {
            self.gate.waiting.store(waiting, Ordering::Relaxed);
        }
        flips && waiting
    }

    /// The reaper's next round (`None`: none due).
    pub(crate) fn set_next_reap(&self, at: Option<Instant>) {
        // Each stripe's copy, under its lock: rare (a reaper round, a
        // deadline earlier than any), and the parks then read it for free.
        for stripe in &*self.stripes {
            stripe.state.lock().next_reap = at;
        }
    }
}

#[cfg(test)]
mod tests;
