//! TIME_WAIT entries grouped by a key (the remote endpoint, the local port),
//! largest groups first.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use timewait_core::sys::SocketEntry;

/// One group of TIME_WAIT entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<K> {
    /// What the entries share.
    pub key: K,
    /// How many entries.
    pub count: usize,
    /// The soonest end of TIME_WAIT in the group: when a port frees.
    pub next_release: Option<Duration>,
}

/// Groups `entries` by `key`, largest groups first, then by key.
///
/// ```
/// use timewait_cli::group::group_by;
///
/// let groups = group_by(&[], |e| e.remote);
/// assert!(groups.is_empty());
/// ```
pub fn group_by<K: Hash + Eq + Ord + Copy>(
    entries: &[SocketEntry],
    key: impl Fn(&SocketEntry) -> K,
) -> Vec<Group<K>> {
    let mut groups: HashMap<K, Group<K>> = HashMap::new();
    for entry in entries {
        let k = key(entry);
        let group = groups.entry(k).or_insert(Group {
            key: k,
            count: 0,
            next_release: None,
        });
        group.count += 1;
        let left = entry.time_wait_remaining();
        group.next_release = match (group.next_release, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut groups: Vec<_> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    groups
}

/// Milliseconds, for JSON.
pub fn millis(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
