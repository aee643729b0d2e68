//! The books against a plain model, without tokio: random sequences of
//! checkouts (some finding an unhealthy idle connection), connects,
//! releases, drops, cancelled waits, reaper rounds and a shutdown, each step carried out as the pool's shell carries it out,
//! and after every step the books must agree with what the model says is
//! outside them.
//!
//! The model is the world the books cannot see: which connections are lent,
//! which units are being connected, who waits. What it checks:
//! - every unit is accounted for: a key's `open` is its idle, lent and
//!   connecting connections, and the total is their sum;
//! - the limits hold (`max_open_per_key`, `max_total`, `max_idle_per_key`);
//! - every connection is in exactly one place, the idle sets in the order
//!   they were parked (LIFO lending, oldest evicted first);
//! - no live waiting checkout is stranded: none waits while its key has an
//!   idle connection, or while its key is under its limit and the pool has
//!   room or an idle connection of another key to evict;
//! - a connection or unit handed to a waiter goes to the oldest live waiter
//!   of its key;
//! - a waiter is only timed out at its deadline, and a closed pool lends
//!   nothing;
//! - connects, releases and reuses are counted exactly (a reuse refused by
//!   a failed health check, or handed to a waiter that left, is taken
//!   back).

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use timewait_core::ledger::TimeWaitLedger;
use tokio::time::Instant;

use crate::book::{Book, Checkin, Effects, IdleTimes, KeyHasher, Keyed, Lend, Waiting};
use crate::config::{Ends, Limits};

mod check;

type Key = u8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    id: u32,
    key: Key,
}

impl Keyed<Key> for Item {
    fn key(&self) -> &Key {
        &self.key
    }
}

/// A waiting checkout, as the books hold it.
#[derive(Debug)]
struct TestWaiter {
    id: u32,
    gone: Rc<Cell<bool>>,
}

impl Waiting for TestWaiter {
    fn is_gone(&self) -> bool {
        self.gone.get()
    }
}

/// A waiting checkout, as the model sees it.
#[derive(Debug)]
struct Waiter {
    id: u32,
    key: Key,
    gone: Rc<Cell<bool>>,
    deadline: Option<Instant>,
}

#[derive(Debug, Clone)]
enum Op {
    /// A checkout; `true`: the first idle connection it is given fails its
    /// health check (it is retired, and the checkout asks again).
    Checkout(Key, bool),
    /// The connect of the n-th unit being connected ends.
    Connected(usize, bool),
    /// The n-th lent connection is released.
    Release(usize),
    /// The n-th lent connection is dropped without a release (retired).
    Drop(usize),
    /// The n-th waiting checkout is cancelled.
    Cancel(usize),
    /// Time passes by this many seconds, and the reaper runs.
    Reap(u8),
    Close,
}

fn op(keys: Key) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..keys, prop::bool::weighted(0.2)).prop_map(|(key, sick)| Op::Checkout(key, sick)),
        3 => (any::<usize>(), prop::bool::weighted(0.85)).prop_map(|(n, ok)| Op::Connected(n, ok)),
        5 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Drop),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (0u8..40).prop_map(Op::Reap),
        1 => Just(Op::Close),
    ]
}

type TestBook = Book<Key, Item, TestWaiter>;

struct Model {
    book: TestBook,
    limits: Limits,
    idle_timeout: Option<Duration>,
    checkout_timeout: Option<Duration>,
    now: Instant,
    next_id: u32,
    /// Parked connections per key, oldest first.
    idle: HashMap<Key, Vec<Item>>,
    lent: Vec<Item>,
    /// Keys of the units being connected.
    connecting: Vec<Key>,
    waiting: Vec<Waiter>,
    closed: bool,
    connects: u64,
    releases: u64,
    reuses: u64,
}

impl Model {
    fn new(
        limits: Limits,
        idle_timeout: Option<Duration>,
        checkout_timeout: Option<Duration>,
    ) -> Self {
        let ledger = TimeWaitLedger::new(Duration::from_secs(60));
        Model {
            book: Book::new(limits, Ends::default(), ledger, KeyHasher::default()),
            limits,
            idle_timeout,
            checkout_timeout,
            now: Instant::from_std(std::time::Instant::now()),
            next_id: 0,
            idle: HashMap::new(),
            lent: Vec::new(),
            connecting: Vec::new(),
            waiting: Vec::new(),
            closed: false,
            connects: 0,
            releases: 0,
            reuses: 0,
        }
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Checkout(key, sick) => self.checkout(key, sick)?,
            Op::Connected(n, ok) => {
                if self.connecting.is_empty() {
                    return Ok(());
                }
                let key = self.connecting.remove(n % self.connecting.len());
                if ok {
                    self.book.connected(&key, None);
                    self.connects += 1;
                    let id = self.id();
                    self.lent.push(Item { id, key });
                } else {
                    self.give_back(key, true)?;
                }
            }
            Op::Release(n) => {
                if self.lent.is_empty() {
                    return Ok(());
                }
                let item = self.lent.remove(n % self.lent.len());
                self.checkin(item, true)?;
            }
            Op::Drop(n) => {
                if self.lent.is_empty() {
                    return Ok(());
                }
                // Retired; its slot gives the unit back when that ends.
                let item = self.lent.remove(n % self.lent.len());
                self.give_back(item.key, false)?;
            }
            Op::Cancel(n) => {
                if self.waiting.is_empty() {
                    return Ok(());
                }
                let waiter = self.waiting.remove(n % self.waiting.len());
                waiter.gone.set(true);
            }
            Op::Reap(seconds) => {
                self.now += Duration::from_secs(u64::from(seconds));
                self.reap()?;
            }
            Op::Close => {
                let (waiters, idle) = self.book.close();
                self.closed = true;
                for waiter in waiters {
                    self.waiter_ended(waiter.id);
                }
                for (key, item) in idle {
                    prop_assert_eq!(key, item.key);
                    self.unpark(item)?;
                    self.give_back(item.key, false)?;
                }
            }
        }
        self.check()
    }

    fn checkout(&mut self, key: Key, sick: bool) -> Result<(), TestCaseError> {
        let mut refused = false;
        loop {
            let mut effects = Effects::new();
            let (id, gone) = (self.id(), Rc::new(Cell::new(false)));
            let deadline = self.checkout_timeout.map(|t| self.now + t);
            let waiter = TestWaiter {
                id,
                gone: gone.clone(),
            };
            let hash = self.book.keys.hasher().hash(&key);
            // As the pool does: the key's stripe alone first, unless a
            // reuse is to be uncounted.
            let fast = if refused {
                None
            } else {
                self.book.idle_sets().lend(hash, &key)
            };
            let lent = match fast {
                Some((item, times)) => Lend::Idle(item, times),
                None => self
                    .book
                    .lend(&key, hash, refused, || (waiter, deadline), &mut effects),
            };
            if refused {
                self.reuses -= 1;
            }
            match lent {
                Lend::Idle(item, _) => {
                    prop_assert!(!self.closed);
                    prop_assert_eq!(item.key, key);
                    let newest = self.idle.get(&key).and_then(|v| v.last()).copied();
                    prop_assert_eq!(Some(item), newest, "the warmest idle connection is lent");
                    self.unpark(item)?;
                    self.reuses += 1;
                    if sick && !refused {
                        // Failed its check: retired (its unit given back
                        // once the lock is released), and asked again.
                        self.carry_out(effects)?;
                        self.give_back(item.key, false)?;
                        refused = true;
                        continue;
                    }
                    self.lent.push(item);
                }
                Lend::Connect => {
                    prop_assert!(!self.closed);
                    self.connecting.push(key);
                }
                Lend::Wait => {
                    prop_assert!(!self.closed);
                    self.waiting.push(Waiter {
                        id,
                        key,
                        gone,
                        deadline,
                    });
                }
                Lend::Closed => prop_assert!(self.closed),
            }
            return self.carry_out(effects);
        }
    }

    fn checkin(&mut self, item: Item, released: bool) -> Result<(), TestCaseError> {
        let mut released = released;
        self.releases += u64::from(released);
        loop {
            let (now, idle_timeout) = (self.now, self.idle_timeout);
            let times = IdleTimes {
                since: Some(now),
                deadline: idle_timeout.map(|t| now + t),
            };
            let hash = self.book.keys.hasher().hash(&item.key);
            let released_now = std::mem::take(&mut released);
            // As the pool does: the key's stripe alone first.
            let checked_in = match self.book.idle_sets().park(hash, item, released_now, times) {
                Ok(displaced) => Checkin::Parked {
                    displaced,
                    wake_reaper: false,
                },
                Err(item) => self.book.checkin(item, hash, released_now, times),
            };
            match checked_in {
                Checkin::Parked { displaced, .. } => {
                    if let Some(old) = displaced {
                        let oldest = self.idle.get(&item.key).and_then(|v| v.first()).copied();
                        prop_assert_eq!(Some(old), oldest, "the oldest idle is displaced");
                        self.unpark(old)?;
                        self.give_back(old.key, false)?;
                    }
                    self.idle.entry(item.key).or_default().push(item);
                    return Ok(());
                }
                Checkin::Handoff(waiter, given) => {
                    prop_assert_eq!(given, item);
                    self.check_oldest_of_key(waiter.id, item.key)?;
                    if waiter.is_gone() {
                        self.book.handoff_failed(&item.key);
                        continue;
                    }
                    self.reuses += 1;
                    self.waiter_ended(waiter.id);
                    self.lent.push(item);
                    return Ok(());
                }
                Checkin::Refused(_, given) => {
                    prop_assert_eq!(given, item);
                    self.give_back(item.key, false)?;
                    return Ok(());
                }
            }
        }
    }

    /// A unit of `key` comes back (a connection retired, a connect failed),
    /// and whatever the books hand out with it is carried out.
    fn give_back(&mut self, key: Key, was_connecting: bool) -> Result<(), TestCaseError> {
        let mut effects = Effects::new();
        self.book.give_back(&key, was_connecting, &mut effects);
        self.carry_out(effects)
    }

    fn carry_out(&mut self, effects: Effects<Key, Item, TestWaiter>) -> Result<(), TestCaseError> {
        for item in effects.evicted {
            // Its unit already left the books.
            self.unpark(item)?;
        }
        for (waiter, key) in effects.room {
            self.check_oldest_of_key(waiter.id, key)?;
            if waiter.is_gone() {
                self.give_back(key, true)?;
            } else {
                self.waiter_ended(waiter.id);
                self.connecting.push(key);
            }
        }
        Ok(())
    }

    fn reap(&mut self) -> Result<(), TestCaseError> {
        let sweep = self.book.reap(self.now);
        for waiter in sweep.timed_out {
            if let Some(w) = self.waiting.iter().find(|w| w.id == waiter.id) {
                prop_assert!(w.deadline.is_some_and(|d| d <= self.now), "timed out early");
            }
            self.waiter_ended(waiter.id);
        }
        for item in sweep.expired {
            prop_assert!(self.idle_timeout.is_some(), "expired with no idle limit");
            self.unpark(item)?;
            self.give_back(item.key, false)?;
        }
        Ok(())
    }

    /// The waiter handed something must be the oldest live one of its key
    /// (gone ones may be met on the way: they are skipped by the shell).
    fn check_oldest_of_key(&self, id: u32, key: Key) -> Result<(), TestCaseError> {
        if let Some(oldest) = self.waiting.iter().find(|w| w.key == key && !w.gone.get()) {
            let this = self.waiting.iter().find(|w| w.id == id);
            if this.is_some_and(|w| !w.gone.get()) {
                prop_assert_eq!(oldest.id, id, "handed to a younger waiter of key {}", key);
            }
        }
        Ok(())
    }

    fn waiter_ended(&mut self, id: u32) {
        self.waiting.retain(|w| w.id != id);
    }

    fn unpark(&mut self, item: Item) -> Result<(), TestCaseError> {
        let parked = self.idle.entry(item.key).or_default();
        let at = parked.iter().position(|i| *i == item);
        prop_assert!(at.is_some(), "{:?} was not idle", item);
        if let Some(at) = at {
            parked.remove(at);
        }
        Ok(())
    }
}

fn limits() -> impl Strategy<Value = Limits> {
    (1usize..4, 1usize..4, 1usize..6, 1usize..5).prop_map(|(idle, per_key, total, keys)| Limits {
        max_idle_per_key: idle,
        max_open_per_key: per_key,
        max_total: total,
        max_keys: keys,
        max_retiring: 8,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_books_agree_with_the_model(
        limits in limits(),
        idle_timeout in prop::option::of(5u64..60),
        checkout_timeout in prop::option::of(5u64..60),
        ops in prop::collection::vec(op(4), 1..200),
    ) {
        let mut model = Model::new(
            limits,
            idle_timeout.map(Duration::from_secs),
            checkout_timeout.map(Duration::from_secs),
        );
        for op in ops {
            model.step(op)?;
        }
        // Everything lent comes back, every connect ends: the books end
        // with nothing but idle connections.
        // A connection handed to a waiter is lent again, so this ends when
        // the waiters do.
        loop {
            if let Some(key) = model.connecting.pop() {
                model.give_back(key, true)?;
            } else if let Some(item) = model.lent.pop() {
                model.checkin(item, true)?;
            } else {
                break;
            }
            model.check()?;
        }
        let idle: usize = model.idle.values().map(Vec::len).sum();
        prop_assert_eq!(model.book.total_open, idle);
        prop_assert!(model.waiting.iter().all(|w| w.gone.get()), "{:?}", model.waiting);
    }
}
