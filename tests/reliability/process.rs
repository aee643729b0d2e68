//! The process's own resources, as the kernel counts them: open file
//! descriptors and resident memory.

use std::time::Duration;

/// How often [`fds_settle`] counts again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// The number of entries in `/proc/self/fd` (the directory handle used to
/// read it included, the same in every count).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
}

/// Counts the open descriptors until there are at most `target`, or `within`
/// has passed; returns the last count. Descriptors close as background tasks
/// (retirements, server connections) end, so a count right after the work
/// can be high for a moment; only a leak keeps it high until the deadline.
pub async fn fds_settle(target: usize, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = open_fds();
        if now <= target || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The process's resident set size in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Waits until the current runtime runs at most `target` tasks, or `within`
/// has passed; returns the last count.
pub async fn tasks_settle(target: usize, within: Duration) -> usize {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = metrics.num_alive_tasks();
        if now <= target || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
