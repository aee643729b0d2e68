//! `core/census`: counting TIME_WAIT sockets among several thousand that the
//! bench makes on loopback.
//!
//! The bench first moves its thread into a network namespace of its own
//! (`unshare(CLONE_NEWNET)`, as root; otherwise it stays where it is and says
//! so), brings its loopback up, turns `tcp_tw_reuse` off there, and closes
//! [`DEFAULT_CONNECTIONS`] connections (`TIMEWAIT_BENCH_CONNECTIONS` to
//! change), the client first, so the namespace holds exactly that many
//! TIME_WAIT entries and nothing else. (Had the server closed first, a new
//! client could pick the port of an earlier connection whose TIME_WAIT the
//! server holds, and its SYN would recycle that entry.) Then, with the same
//! count in view:
//!
//! - `sock-diag`: `Census::time_wait()` from netlink sock_diag (the kernel
//!   filters by state);
//! - `proc-net-tcp`: the same census from `/proc/net/tcp{,6}` (every socket,
//!   in text, filtered here);
//! - `ss`: `sh -c "ss -tan state time-wait | wc -l"` run as a child process,
//!   timed by criterion as a third id: what an operator would type.
//!
//! Entries last 60 s; the group is sized to end well within that, and checks
//! afterwards that the count did not move.
//!
//! Run: `cargo bench --bench census`.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use timewait::core::sys::{Census, Source};
use timewait_echo::netns;

/// TIME_WAIT entries the bench makes unless told otherwise.
const DEFAULT_CONNECTIONS: usize = 5_000;
/// The environment variable that changes it.
const CONNECTIONS_VAR: &str = "TIMEWAIT_BENCH_CONNECTIONS";
/// Below the default ephemeral range (28,232 ports) less a margin.
const MAX_CONNECTIONS: usize = 25_000;
/// Linux holds TIME_WAIT for 60 s; the group must be done well before.
const TIME_WAIT_LEN: Duration = Duration::from_secs(60);
const SS_COMMAND: &str = "ss -tan state time-wait | wc -l";

fn connections() -> usize {
    let Some(value) = std::env::var_os(CONNECTIONS_VAR) else {
        return DEFAULT_CONNECTIONS;
    };
    let value = value.to_string_lossy();
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => n,
        _ => panic!("{CONNECTIONS_VAR}={value}: expected a count from 1 to {MAX_CONNECTIONS}"),
    }
}

fn ss_count() -> usize {
    let output = Command::new("sh")
        .args(["-c", SS_COMMAND])
        .output()
        .expect("ss runs");
    let lines: usize = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("wc prints a count");
    // The first line is ss's header.
    lines.saturating_sub(1)
}

fn census(c: &mut Criterion) {
    let n = connections();
    // Criterion runs every benchmark on this thread: it moves into a
    // namespace where a client never reuses a port it holds in TIME_WAIT.
    let alone = match netns::unshare_fresh() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!(
                "core/census: in the current network namespace ({reason}); counts include its other TIME_WAIT entries"
            );
            false
        }
    };
    let made = Instant::now();
    // Each connection leaves exactly one TIME_WAIT entry, the client's.
    netns::close_client_first(&netns::loopback_listeners(1), n);
    let by_diag = Census::time_wait().source(Source::SockDiag);
    let by_proc = Census::time_wait().source(Source::ProcNet);
    let count = by_diag.count().expect("a sock_diag census");
    if alone {
        // The three ways agree, on exactly the entries made here.
        assert_eq!(count, n, "TIME_WAIT entries for {n} connections");
        assert_eq!(by_proc.count().expect("a /proc census"), n);
        assert_eq!(ss_count(), n);
    }
    eprintln!(
        "core/census: {count} TIME_WAIT entries, made in {:?}",
        made.elapsed()
    );

    let mut group = c.benchmark_group("core/census");
    // Milliseconds an iteration: flat sampling keeps the sample count.
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    group.bench_function("sock-diag", |b| {
        b.iter(|| black_box(by_diag.count().expect("a sock_diag census")));
    });
    group.bench_function("proc-net-tcp", |b| {
        b.iter(|| black_box(by_proc.count().expect("a /proc census")));
    });
    group.bench_function("ss", |b| b.iter(|| black_box(ss_count())));
    group.finish();

    assert!(
        made.elapsed() < TIME_WAIT_LEN,
        "the group outlived the entries' 60 s: its figures counted fewer than {count}"
    );
    if alone {
        let after = by_diag.count().expect("a sock_diag census");
        assert_eq!(after, n, "entries came or went during the group");
    }
}

criterion_group!(benches, census);
criterion_main!(benches);
