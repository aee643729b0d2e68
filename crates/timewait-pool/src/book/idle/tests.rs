//! The fast steps of the idle sets against the books' steps, including
//! fast steps run inside a books step's windows.

use std::sync::Arc;
use std::time::Duration;

use timewait_core::ledger::TimeWaitLedger;

use super::*;
use crate::book::{Book, Checkin, Effects, KeyHasher, Lend, Waiting};
use crate::config::{Ends, Limits};
use crate::lock::Mutex;

#[derive(Debug, PartialEq)]
struct Item(u8);

impl Keyed<u8> for Item {
    fn key(&self) -> &u8 {
        &self.0
    }
}

#[derive(Debug)]
struct Waiter;

impl Waiting for Waiter {
    fn is_gone(&self) -> bool {
        false
    }
}

const KEY: u8 = 7;

/// Limits of `per_key` connections a key (idle or open), `total` in all,
/// and `keys` keys.
fn limits(per_key: usize, total: usize, keys: usize) -> Limits {
    Limits {
        max_idle_per_key: per_key,
        max_open_per_key: per_key,
        max_total: total,
        max_keys: keys,
        max_retiring: 1,
    }
}

/// Books whose key `KEY` has one connection, lent, and is listed (it
/// was parked once through the books).
fn one_lent() -> (Book<u8, Item, Waiter>, KeyHash) {
    let limits = limits(1, 4, 4);
    let ledger = TimeWaitLedger::new(Duration::from_secs(60));
    let mut book = Book::new(limits, Ends::default(), ledger, KeyHasher::default());
    let hash = book.keys.hasher().hash(&KEY);
    let mut effects = Effects::new();
    let lent = book.lend(&KEY, hash, false, || (Waiter, None), &mut effects);
    assert!(matches!(lent, Lend::Connect));
    book.connected(&KEY, None);
    let parked = book.checkin(Item(KEY), hash, true, IdleTimes::default());
    assert!(matches!(parked, Checkin::Parked { .. }));
    let again = book.idle_sets().lend(hash, &KEY);
    assert!(matches!(again, Some((Item(KEY), _))));
    (book, hash)
}

#[test]
fn a_park_is_fast_when_nothing_waits() {
    let (book, hash) = one_lent();
    let parked = book
        .idle_sets()
        .park(hash, Item(KEY), true, IdleTimes::default());
    assert_eq!(parked, Ok(None));
    assert_eq!(book.activity().released, 2);
}

#[test]
fn a_park_while_a_checkout_decides_to_wait_goes_through_the_books() {
    let (mut book, hash) = one_lent();
    let sets = Arc::clone(book.idle_sets());
    let mut refused = None;
    let mut effects = Effects::new();
    // The waiter is made after the books looked into the key's idle set
    // and found it empty, and before the checkout is queued: a release
    // parking right then must not go where the checkout will not look.
    let lent = book.lend(
        &KEY,
        hash,
        false,
        || {
            refused = sets.park(hash, Item(KEY), true, IdleTimes::default()).err();
            (Waiter, None)
        },
        &mut effects,
    );
    assert!(matches!(lent, Lend::Wait));
    let item = refused.expect("the park was refused, to go through the books");
    let handed = book.checkin(item, hash, true, IdleTimes::default());
    assert!(matches!(handed, Checkin::Handoff(Waiter, Item(KEY))));
}

#[test]
fn a_park_after_a_shutdown_or_past_the_reapers_round_goes_through_the_books() {
    let (mut book, hash) = one_lent();
    let sets = Arc::clone(book.idle_sets());
    let now = Instant::now();
    let times = |after: u64| IdleTimes {
        since: Some(now),
        deadline: Some(now + Duration::from_secs(after)),
    };
    // No round due: a deadline needs one.
    assert!(sets.park(hash, Item(KEY), true, times(10)).is_err());
    let parked = book.checkin(Item(KEY), hash, true, times(10));
    assert!(matches!(
        parked,
        Checkin::Parked {
            wake_reaper: true,
            ..
        }
    ));
    assert!(sets.lend(hash, &KEY).is_some());
    // The round at 10 s comes first: a later deadline parks fast, an
    // earlier one asks for an earlier round.
    assert!(sets.park(hash, Item(KEY), true, times(5)).is_err());
    assert_eq!(sets.park(hash, Item(KEY), true, times(20)), Ok(None));
    assert!(sets.lend(hash, &KEY).is_some());
    let _ = book.close();
    assert!(sets.park(hash, Item(KEY), true, times(20)).is_err());
}

/// Books with `limits`, and one connection of each of `keys` parked
/// through the books (so listed), in that order of use.
fn parked(limits: Limits, keys: &[u8]) -> Book<u8, Item, Waiter> {
    let ledger = TimeWaitLedger::new(Duration::from_secs(60));
    let mut book = Book::new(limits, Ends::default(), ledger, KeyHasher::default());
    for &key in keys {
        let hash = book.keys.hasher().hash(&key);
        let mut effects = Effects::new();
        let lent = book.lend(&key, hash, false, || (Waiter, None), &mut effects);
        assert!(matches!(lent, Lend::Connect));
        book.connected(&key, None);
        let parked = book.checkin(Item(key), hash, true, IdleTimes::default());
        assert!(matches!(parked, Checkin::Parked { .. }));
    }
    book
}

/// Runs a fast lend of `key` at the books' next window; what it took is
/// in the returned cell.
fn lend_in_window(book: &Book<u8, Item, Waiter>, key: u8) -> Arc<Mutex<Option<Item>>> {
    let sets = Arc::clone(book.idle_sets());
    let hash = book.keys.hasher().hash(&key);
    let taken = Arc::new(Mutex::new(None));
    let cell = Arc::clone(&taken);
    book.idle_sets().at_next_window(move || {
        *cell.lock() = sets.lend(hash, &key).map(|(item, _)| item);
    });
    taken
}

#[test]
fn a_key_lent_from_while_the_books_forget_it_keeps_its_connection_counted() {
    let mut book = parked(limits(2, 2, 1), &[1]);
    // Key 2 needs a place: the key bound picks key 1 (at rest), and a
    // checkout takes key 1's connection before the books forget it.
    let taken = lend_in_window(&book, 1);
    let hash = book.keys.hasher().hash(&2);
    let mut effects = Effects::new();
    let lent = book.lend(&2, hash, false, || (Waiter, None), &mut effects);
    assert_eq!(
        *taken.lock(),
        Some(Item(1)),
        "the fast lend ran in the window"
    );
    assert!(matches!(lent, Lend::Connect));
    let kept = book.keys.get(&1).map(|entry| entry.open);
    assert_eq!(
        kept,
        Some(1),
        "a key with a connection out is not forgotten"
    );
    assert_eq!(
        book.total_open, 2,
        "both connections counted, under the total"
    );
}

#[test]
fn an_eviction_victim_emptied_meanwhile_passes_the_choice_to_the_next_key() {
    let mut book = parked(limits(2, 2, 4), &[1, 2]);
    // At the total, key 3 evicts the least recently used idle
    // connection: key 1's, which a checkout takes first.
    let taken = lend_in_window(&book, 1);
    let hash = book.keys.hasher().hash(&3);
    let mut effects = Effects::new();
    let lent = book.lend(&3, hash, false, || (Waiter, None), &mut effects);
    assert_eq!(
        *taken.lock(),
        Some(Item(1)),
        "the fast lend ran in the window"
    );
    assert!(
        matches!(lent, Lend::Connect),
        "no wait beside key 2's idle connection"
    );
    assert_eq!(effects.evicted, [Item(2)]);
    assert_eq!(book.total_open, 2);
}

/// What a fast park answered: parked (with what it displaced), or sent to
/// the books.
type ParkAnswer = Result<Option<Item>, Item>;

/// Runs a fast park of `key`'s connection, deadline `after` seconds
/// from now (none: no deadline), at the books' next window; its answer
/// is in the returned cell.
fn park_in_window(
    book: &Book<u8, Item, Waiter>,
    key: u8,
    now: Instant,
    after: Option<u64>,
) -> Arc<Mutex<Option<ParkAnswer>>> {
    let sets = Arc::clone(book.idle_sets());
    let hash = book.keys.hasher().hash(&key);
    let answer = Arc::new(Mutex::new(None));
    let cell = Arc::clone(&answer);
    let times = IdleTimes {
        since: Some(now),
        deadline: after.map(|after| now + Duration::from_secs(after)),
    };
    book.idle_sets().at_next_window(move || {
        *cell.lock() = Some(sets.park(hash, Item(key), true, times));
    });
    answer
}

#[test]
fn a_park_while_the_reaper_sweeps_asks_for_a_round_of_its_own() {
    let mut book = parked(limits(2, 4, 4), &[KEY]);
    let hash = book.keys.hasher().hash(&KEY);
    let now = Instant::now();
    // A round is due at 10 s (the connection's deadline), and the
    // connection is lent again: the sweep will find nothing.
    let times = IdleTimes {
        since: Some(now),
        deadline: Some(now + Duration::from_secs(10)),
    };
    assert!(book.idle_sets().lend(hash, &KEY).is_some());
    let parked = book.checkin(Item(KEY), hash, true, times);
    assert!(matches!(parked, Checkin::Parked { .. }));
    assert!(book.idle_sets().lend(hash, &KEY).is_some());
    // Released during the round, after the sweep passed its stripe,
    // with a deadline at 20 s: the round about to end schedules none.
    let answer = park_in_window(&book, KEY, now, Some(20));
    let sweep = book.reap(now);
    assert_eq!(sweep.next, None);
    let answer = answer.lock().take();
    assert!(
        matches!(answer, Some(Err(Item(KEY)))),
        "the park went to the books, which ask the reaper for its round: {answer:?}"
    );
}

#[test]
fn a_park_while_the_pool_closes_finds_it_closed() {
    let mut book = parked(limits(2, 4, 4), &[KEY]);
    let hash = book.keys.hasher().hash(&KEY);
    assert!(book.idle_sets().lend(hash, &KEY).is_some());
    // No deadline: only the gate can send it to the books (were it still
    // open, the connection would park, and the drain would take it).
    let answer = park_in_window(&book, KEY, Instant::now(), None);
    let (_, idle) = book.close();
    assert!(idle.is_empty());
    let answer = answer.lock().take();
    assert!(
        matches!(answer, Some(Err(Item(KEY)))),
        "nothing parks in a closed pool: {answer:?}"
    );
}

#[test]
fn a_lend_while_the_pool_closes_finds_nothing() {
    let mut book = parked(limits(2, 4, 4), &[KEY]);
    // The gate is closed and the sets not drained yet: a checkout must
    // not take the connection the shutdown is about to retire.
    let taken = lend_in_window(&book, KEY);
    let (_, idle) = book.close();
    assert!(taken.lock().is_none(), "nothing is lent once closing began");
    assert_eq!(idle, [(KEY, Item(KEY))]);
}

#[test]
fn a_set_seen_empty_while_checkouts_wait_is_looked_at_again_once_the_books_park_in_it() {
    // Keys 1 and 2 each have their one connection lent, and each has a
    // checkout waiting: the books saw key 1's set empty when its checkout
    // queued, and the waiting flag stays up throughout.
    let mut book = parked(limits(1, 2, 4), &[1, 2]);
    let hash_1 = book.keys.hasher().hash(&1u8);
    let hash_2 = book.keys.hasher().hash(&2u8);
    assert!(book.idle_sets().lend(hash_1, &1).is_some());
    assert!(book.idle_sets().lend(hash_2, &2).is_some());
    let mut effects = Effects::new();
    let waits = book.lend(&1, hash_1, false, || (Waiter, None), &mut effects);
    assert!(matches!(waits, Lend::Wait));
    let waits = book.lend(&2, hash_2, false, || (Waiter, None), &mut effects);
    assert!(matches!(waits, Lend::Wait));
    // Key 1's connection goes to its waiter, comes back, and with no
    // checkout of key 1 left (key 2's still waits) the books park it.
    let handed = book.checkin(Item(1), hash_1, true, IdleTimes::default());
    assert!(matches!(handed, Checkin::Handoff(Waiter, Item(1))));
    let refused = book
        .idle_sets()
        .park(hash_1, Item(1), true, IdleTimes::default());
    let item = refused.expect_err("checkouts wait: the park goes through the books");
    let parked = book.checkin(item, hash_1, true, IdleTimes::default());
    assert!(matches!(parked, Checkin::Parked { .. }));
    // The next checkout of key 1 must find it, not wait beside it.
    let lent = book.lend(&1, hash_1, false, || (Waiter, None), &mut effects);
    assert!(matches!(lent, Lend::Idle(Item(1), _)), "{lent:?}");
}

#[test]
fn a_set_seen_empty_is_looked_at_again_once_the_waiting_flag_fell() {
    let mut book = parked(limits(1, 2, 4), &[KEY]);
    let hash = book.keys.hasher().hash(&KEY);
    assert!(book.idle_sets().lend(hash, &KEY).is_some());
    // A checkout waits: the books see the set empty.
    let mut effects = Effects::new();
    let waits = book.lend(&KEY, hash, false, || (Waiter, None), &mut effects);
    assert!(matches!(waits, Lend::Wait));
    let handed = book.checkin(Item(KEY), hash, true, IdleTimes::default());
    assert!(matches!(handed, Checkin::Handoff(Waiter, Item(KEY))));
    // Nothing waits now: the next release parks without the books.
    let parked = book
        .idle_sets()
        .park(hash, Item(KEY), true, IdleTimes::default());
    assert_eq!(parked, Ok(None));
    // A checkout through the books (one whose last connection failed its
    // check, say) must find it, not trust what it saw before.
    let lent = book.lend(&KEY, hash, false, || (Waiter, None), &mut effects);
    assert!(matches!(lent, Lend::Idle(Item(KEY), _)), "{lent:?}");
}

#[test]
fn a_set_seen_empty_by_a_checkout_that_connects_is_looked_at_again() {
    // The look that marks the set empty ends in a connect, and the flag
    // falls in the same step: the next release parks fast, and the next
    // checkout through the books must see it.
    let mut book = parked(limits(2, 4, 4), &[KEY]);
    let hash = book.keys.hasher().hash(&KEY);
    assert!(book.idle_sets().lend(hash, &KEY).is_some());
    let mut effects = Effects::new();
    let lent = book.lend(&KEY, hash, false, || (Waiter, None), &mut effects);
    assert!(matches!(lent, Lend::Connect));
    book.connected(&KEY, None);
    let parked = book
        .idle_sets()
        .park(hash, Item(KEY), true, IdleTimes::default());
    assert_eq!(parked, Ok(None));
    // A checkout whose last connection failed its check.
    let lent = book.lend(&KEY, hash, true, || (Waiter, None), &mut effects);
    assert!(matches!(lent, Lend::Idle(Item(KEY), _)), "{lent:?}");
}
