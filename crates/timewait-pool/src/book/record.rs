//! What the books count and remember besides capacity: where keys'
//! connections go, the ledger of local TIME_WAIT, activity, snapshots.

use std::collections::HashMap;

use timewait_core::budget::{Admission, PortBudget, TwReuse};
use timewait_core::ledger::Destination;
use tokio::time::Instant;

use crate::book::Book;
use crate::book::queue::Waiting;
use crate::book::unreleased::Warning;
use crate::key::Key;
use crate::stats::{Activity, Cause, KeyStats, Outcome, PoolStats};

impl<K: Key, I, W: Waiting> Book<K, I, W> {
    /// A connection of `key` counted as connecting exists now: counts it,
    /// and learns where the key's connections go.
    pub(crate) fn connected(&mut self, key: &K, destination: Option<Destination>) {
        self.activity.connects += 1;
        if let Some(entry) = self.keys.get_mut(key) {
            entry.connecting = entry.connecting.saturating_sub(1);
            entry.activity.connects += 1;
            if destination.is_some() {
                entry.destination = destination;
            }
        }
    }

    /// Counts one event in the key's activity and the pool's.
    pub(crate) fn count(&mut self, key: &K, event: impl Fn(&mut Activity)) {
        event(&mut self.activity);
        if let Some(entry) = self.keys.get_mut(key) {
            event(&mut entry.activity);
        }
    }

    /// Whether `key` may open a connection at `now` under the port budget.
    /// Keys whose destination is not known yet, or toward which the kernel
    /// reuses TIME_WAIT ports, always may.
    pub(crate) fn admit(
        &self,
        key: &K,
        now: Instant,
        budget: &PortBudget,
        tw_reuse: TwReuse,
    ) -> (Admission, Option<Destination>) {
        let Some(entry) = self.keys.get(key) else {
            return (Admission::Go, None);
        };
        let Some(destination) = entry.destination else {
            return (Admission::Go, None);
        };
        if tw_reuse.reuses_for(destination.remote.ip()) {
            return (Admission::Go, Some(destination));
        }
        let usage = self.ledger.usage(&destination, now.into_std());
        // The asking checkout's own unit is counted in `open`; it has no
        // port yet.
        let in_use = entry.open.saturating_sub(1);
        (budget.admit(in_use, usage), Some(destination))
    }

    /// Where `key`'s connections go, once one was made.
    pub(crate) fn destination(&self, key: &K) -> Option<Destination> {
        self.keys.get(key).and_then(|entry| entry.destination)
    }

    /// Counts a finished retirement by who closed and why, and charges a
    /// local close to the destination's ledger at `now`. A warning when most
    /// of the key's leases end without a release.
    pub(crate) fn record_retired(&mut self, outcome: &Outcome<K>, now: Instant) -> Option<Warning> {
        let Outcome {
            key,
            destination,
            closed_by,
            cause,
        } = outcome;
        self.activity.retired.count(*closed_by);
        *self.activity.reasons.counter(*cause) += 1;
        let mut warning = None;
        if let Some(entry) = self.keys.get_mut(key) {
            entry.activity.retired.count(*closed_by);
            *entry.activity.reasons.counter(*cause) += 1;
            if *cause == Cause::Unreleased {
                // The key's whole activity: its idle set counts its reuses.
                let activity = self
                    .idle
                    .with(entry.hash, key, |set| entry.activity_with(set));
                warning = entry
                    .unreleased
                    .check(&activity.unwrap_or(entry.activity), now);
            }
        }
        if closed_by.leaves_local_time_wait() {
            if let Some(destination) = destination {
                self.ledger.record(*destination, now.into_std());
            }
        }
        warning
    }

    /// A snapshot at `now`; `retiring` is counted outside the books.
    pub(crate) fn stats(&self, now: Instant, retiring: usize) -> PoolStats<K> {
        let now = now.into_std();
        let mut total = KeyStats {
            local_time_wait: self.ledger.total_live(now),
            activity: self.activity(),
            ..KeyStats::default()
        };
        let mut waiting: HashMap<&K, usize> = HashMap::new();
        for key in self.queue.live() {
            *waiting.entry(key).or_default() += 1;
        }
        let keys: Vec<(K, KeyStats)> = self
            .keys
            .iter()
            .map(|(k, entry)| {
                let waiting = waiting.get(k).copied().unwrap_or(0);
                let stats = self.idle.with(entry.hash, k, |set| {
                    entry.stats(set, &self.ledger, now, waiting)
                });
                (k.clone(), stats.unwrap_or_default())
            })
            .collect();
        for (_, s) in &keys {
            total.open += s.open;
            total.idle += s.idle;
            total.in_use += s.in_use;
            total.connecting += s.connecting;
        }
        // Checkouts of keys not remembered (yet) wait too.
        total.waiting = waiting.values().sum();
        PoolStats {
            total,
            retiring,
            keys,
        }
    }
}
