//! What the model checks after every step (see the [model](super)).

use proptest::prelude::*;

use super::{Item, Key, Model};

impl Model {
    pub(super) fn check(&self) -> Result<(), TestCaseError> {
        let limits = self.limits;
        let count = |key: Key| {
            let idle = self.idle.get(&key).map_or(0, Vec::len);
            let lent = self.lent.iter().filter(|i| i.key == key).count();
            let connecting = self.connecting.iter().filter(|k| **k == key).count();
            (idle, lent, connecting)
        };
        let mut total = 0;
        for key in 0..=Key::MAX {
            let (idle, lent, connecting) = count(key);
            match self.book.keys.get(&key) {
                Some(entry) => {
                    prop_assert_eq!(
                        entry.open,
                        idle + lent + connecting,
                        "open units of key {}",
                        key
                    );
                    prop_assert_eq!(entry.connecting, connecting, "connecting of key {}", key);
                    let set = self.book.idle_sets().with(entry.hash, &key, |set| {
                        let parked: Vec<Item> = set.parked.iter().map(|p| p.item).collect();
                        (parked, set.listed)
                    });
                    prop_assert!(set.is_some(), "key {} has no idle set", key);
                    let (parked, listed) = set.unwrap_or_default();
                    let expected = self.idle.get(&key).cloned().unwrap_or_default();
                    prop_assert_eq!(&parked, &expected, "idle set of key {}", key);
                    prop_assert_eq!(
                        listed,
                        entry.places.idle.is_some(),
                        "key {} listed in one place and not the other",
                        key
                    );
                    prop_assert!(
                        entry.open <= limits.max_open_per_key,
                        "key {} over its limit",
                        key
                    );
                    prop_assert!(parked.len() <= limits.max_idle_per_key);
                    total += entry.open;
                }
                None => prop_assert_eq!(
                    idle + lent + connecting,
                    0,
                    "key {} forgotten with connections",
                    key
                ),
            }
        }
        prop_assert_eq!(self.book.total_open, total);
        prop_assert!(
            total <= limits.max_total,
            "{} open over the total {}",
            total,
            limits.max_total
        );
        let activity = self.book.activity();
        prop_assert_eq!(activity.connects, self.connects);
        prop_assert_eq!(activity.released, self.releases);
        prop_assert_eq!(activity.reuses, self.reuses);
        for waiter in self.waiting.iter().filter(|w| !w.gone.get()) {
            let key = waiter.key;
            let (idle, _, _) = count(key);
            prop_assert_eq!(
                idle,
                0,
                "a checkout of key {} waits beside an idle connection",
                key
            );
            let under_limit = self
                .book
                .keys
                .get(&key)
                .is_none_or(|e| e.open < limits.max_open_per_key);
            if under_limit {
                prop_assert!(
                    total >= limits.max_total,
                    "a checkout of key {} waits with room",
                    key
                );
                let evictable = self
                    .idle
                    .iter()
                    .any(|(k, items)| *k != key && !items.is_empty());
                prop_assert!(
                    !evictable,
                    "a checkout of key {} waits beside an evictable connection",
                    key
                );
            }
        }
        Ok(())
    }
}
