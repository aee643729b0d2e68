//! `cli/watch`: one `watch` refresh (a sock_diag snapshot of the namespace
//! and its diff against the previous one, down to the sorted view) at
//! 5,000 and at 40,000 TIME_WAIT entries, beside `ss -tan state time-wait`
//! on the same namespace in the same run, and the sock_diag dump alone
//! (`dump-only`: the census of the same states, counted, not kept), so that
//! what the snapshot and diff add shows.
//!
//! As root, the bench moves its thread into a new network namespace for
//! each size (`unshare(CLONE_NEWNET)`), brings its loopback up, turns
//! `tcp_tw_reuse` off and widens `ip_local_port_range` to 1024-65535 there,
//! then closes that many loopback connections, the client first, spread
//! over four listeners, so that the namespace holds exactly that many
//! TIME_WAIT entries and nothing else (the root `benches/census.rs` does
//! the same for 5,000). `ss` runs as a child process, which starts in the
//! namespace of the thread that spawns it. Entries last 60 s; each size's
//! group is sized to end well within that, and the count is checked after.
//!
//! `cargo bench -p timewait-cli -- --test` runs each benchmark once, at a
//! tenth of the sizes. Without root there is no namespace, and nothing is
//! measured (the bench says why).

use std::hint::black_box;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use timewait_cli::snapshot::watched_states;
use timewait_cli::watch::run::refresh;
use timewait_core::sys::{Census, Source};
use timewait_echo::netns;

/// The sizes measured.
const SIZES: [usize; 2] = [5_000, 40_000];
/// Listeners the connections are spread over: ports toward one destination
/// are separate from those toward another, so connect() finds free ones fast.
const LISTENERS: usize = 4;
const TIME_WAIT_LEN: Duration = Duration::from_secs(60);

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// A fresh namespace for this thread, ready for many TIME_WAIT entries:
/// `timewait_echo::netns::unshare_fresh`, and the whole port range.
fn fresh_namespace() -> Result<(), String> {
    netns::unshare_fresh()?;
    // `/proc/sys/net` shows the namespace of the thread that opens it.
    let file = "/proc/sys/net/ipv4/ip_local_port_range";
    std::fs::write(file, "1024 65535").map_err(|e| format!("{file}: {e}"))
}

/// Closes `n` loopback connections, the client first, over [`LISTENERS`]
/// listeners in turn: one client-side TIME_WAIT entry each.
fn make_time_wait(n: usize) -> Vec<TcpListener> {
    let listeners = netns::loopback_listeners(LISTENERS);
    netns::close_client_first(&listeners, n);
    listeners
}

fn ss_time_wait() -> usize {
    let output = Command::new("ss")
        .args(["-tan", "state", "time-wait"])
        .output()
        .expect("ss runs");
    assert!(output.status.success(), "ss: {}", output.status);
    // The first line is ss's header.
    output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - 1
}

fn watch(c: &mut Criterion) {
    let scale = if test_mode() { 10 } else { 1 };
    let census = Census::time_wait().source(Source::SockDiag);
    for size in SIZES {
        let n = size / scale;
        if let Err(reason) = fresh_namespace() {
            eprintln!(
                "cli/watch: not measured: no network namespace of its own ({reason}); run as root"
            );
            return;
        }
        let made = Instant::now();
        let listeners = make_time_wait(n);
        assert_eq!(
            census.count().expect("a census"),
            n,
            "TIME_WAIT entries made"
        );
        assert_eq!(ss_time_wait(), n, "ss agrees");
        eprintln!(
            "cli/watch: {n} TIME_WAIT entries, made in {:?}",
            made.elapsed()
        );
        let (first, _) = refresh(None, 20).expect("a first snapshot");

        let mut group = c.benchmark_group("cli/watch");
        group
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(4))
            .sample_size(20);
        group.bench_function(BenchmarkId::new("refresh", n), |b| {
            b.iter(|| {
                let (now, view) = refresh(Some(&first), 20).expect("a refresh");
                black_box((now.time_wait.len(), view.destinations.len()))
            });
        });
        // The sock_diag dump alone, for the same states: what the refresh
        // adds is the difference.
        let dump = Census::new().states(watched_states());
        group.bench_function(BenchmarkId::new("dump-only", n), |b| {
            b.iter(|| black_box(dump.count().expect("a census")));
        });
        group.bench_function(BenchmarkId::new("ss", n), |b| {
            b.iter(|| black_box(ss_time_wait()));
        });
        group.finish();

        assert!(
            made.elapsed() < TIME_WAIT_LEN,
            "the group outlived the entries' 60 s: its figures counted fewer than {n}"
        );
        assert_eq!(census.count().expect("a census"), n, "entries came or went");
        drop(listeners);
    }
}

criterion_group!(benches, watch);
criterion_main!(benches);
