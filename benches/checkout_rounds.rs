//! `checkout`'s parties and loads, measured as ratios that survive this
//! kind of VM: its speed moves by half or double from one second to the
//! next (the same binary's `checkout/contended` has given 450 ns and 1.5 µs
//! in consecutive runs), so two parties timed a minute apart by criterion
//! can be compared only by luck.
//!
//! Here the parties of one load take turns in short runs (about a tenth of
//! a second each, the order rotated every round), and each round gives one
//! ratio per peer: `timewait`'s time per operation over the peer's, both
//! measured within the same second. Printed per load: each party's median
//! time, and per peer the median ratio, its range, and in how many rounds
//! `timewait` was ahead.
//!
//! The loads are `checkout`'s: `uncontended` (one task, current-thread
//! runtime), `contended/8` and `contended/64` (64 tasks on 2 workers sharing
//! 8 or 64 connections, each held across a yield), `keyed` (64 tasks spread
//! over 1,024 keys of at most 4 connections).
//!
//! Run: `cargo bench --bench checkout_rounds` (15 rounds), or
//! `cargo bench --bench checkout_rounds -- --rounds 31 keyed` for one load;
//! `cargo bench -- --test` runs one short round of each, as a check.

#[path = "support/dummy.rs"]
mod dummy;
#[path = "support/parties.rs"]
mod parties;
#[path = "support/tasks.rs"]
mod tasks;

use std::time::Instant;

use tokio::runtime::Runtime;

use parties::{CONTENDED_SIZES, Cycle, KEY, KEYS, KeyedParties, PER_KEY, Parties, TASKS, WORKERS};

/// One party of a load: its name, and a run of `ops` operations that
/// returns the time per operation in nanoseconds.
type Party<'a> = (&'static str, Box<dyn Fn(u64) -> f64 + 'a>);

/// How the tasks of a load use their pool.
#[derive(Clone, Copy)]
enum Load {
    /// One task, no hold.
    Alone,
    /// [`TASKS`] tasks, one key, a hold across a yield.
    Shared,
    /// [`TASKS`] tasks over [`KEYS`] keys, a hold across a yield.
    Spread,
}

fn nanos_per_op(elapsed: std::time::Duration, ops: u64) -> f64 {
    elapsed.as_secs_f64() * 1e9 / ops.max(1) as f64
}

/// Runs `ops` operations of `load` on `pool`.
fn run<P: Cycle>(runtime: &Runtime, pool: &P, load: Load, ops: u64) -> f64 {
    match load {
        Load::Alone => runtime.block_on(async {
            let mut pool = pool.clone();
            let start = Instant::now();
            for _ in 0..ops {
                pool.cycle(KEY, false).await;
            }
            nanos_per_op(start.elapsed(), ops)
        }),
        Load::Shared | Load::Spread => {
            let spread = matches!(load, Load::Spread);
            let handles: Vec<(u32, P)> = (0..TASKS as u32).map(|t| (t, pool.clone())).collect();
            let (elapsed, _) = runtime.block_on(tasks::timed_tasks(
                ops,
                handles,
                move |(task, mut pool), count| async move {
                    for i in 0..count as u32 {
                        // `checkout/keyed`'s spread: keys visited evenly,
                        // rarely by two tasks at a time.
                        let key = if spread {
                            task.wrapping_mul(97).wrapping_add(i.wrapping_mul(31)) % KEYS
                        } else {
                            KEY
                        };
                        pool.cycle(key, true).await;
                    }
                    (task, pool)
                },
            ));
            nanos_per_op(elapsed, ops)
        }
    }
}

fn party<'a, P: Cycle>(runtime: &'a Runtime, name: &'static str, pool: P, load: Load) -> Party<'a> {
    (name, Box::new(move |ops| run(runtime, &pool, load, ops)))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `rounds` rounds of `ops` operations per party, the order rotated
/// each round, and prints the medians and ratios. The first party is
/// `timewait`, the others its peers.
fn compare(load_name: &str, parties: &[Party<'_>], rounds: usize, ops: u64) {
    // A warm-up run each: pools fill, caches and allocators settle.
    for (_, run) in parties {
        run(ops / 4);
    }
    let mut times = vec![Vec::with_capacity(rounds); parties.len()];
    for round in 0..rounds {
        for turn in 0..parties.len() {
            let which = (turn + round) % parties.len();
            times[which].push((parties[which].1)(ops));
        }
    }
    println!("{load_name} ({rounds} rounds of {ops} operations a party)");
    for ((name, _), party_times) in parties.iter().zip(&times) {
        println!(
            "  {name:<14} median {:>8.1} ns",
            median(party_times.clone())
        );
    }
    for ((peer, _), peer_times) in parties.iter().zip(&times).skip(1) {
        if *peer == "std-mutex-vec" {
            continue;
        }
        let ratios: Vec<f64> = times[0]
            .iter()
            .zip(peer_times)
            .map(|(ours, theirs)| ours / theirs)
            .collect();
        let ahead = ratios.iter().filter(|&&r| r < 1.0).count();
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        println!(
            "  timewait ÷ {peer:<9} median {:.2}  range {low:.2}–{high:.2}  ahead in {ahead} of {rounds} rounds",
            median(ratios.clone()),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let test = args.iter().any(|a| a == "--test");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if test { 1 } else { 15 });
    let wanted: Vec<&str> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--") && args.get(i.wrapping_sub(1)).is_none_or(|p| p != "--rounds")
        })
        .map(|(_, a)| a.as_str())
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| name.starts_with(w));
    // Operations a run: about a tenth of a second each on this VM.
    let scale = |ops: u64| if test { ops / 1000 } else { ops };

    if runs("uncontended") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let p = Parties::new(&runtime, 8);
        let parties = [
            party(&runtime, "timewait", p.timewait, Load::Alone),
            party(&runtime, "deadpool", p.deadpool, Load::Alone),
            party(&runtime, "bb8", p.bb8, Load::Alone),
            party(&runtime, "std-mutex-vec", p.floor, Load::Alone),
        ];
        compare("uncontended", &parties, rounds, scale(500_000));
    }
    let runtime = tasks::multi_thread(WORKERS);
    for size in CONTENDED_SIZES {
        let name = format!("contended/{size}");
        if !runs(&name) {
            continue;
        }
        let p = Parties::new(&runtime, size);
        let parties = [
            party(&runtime, "timewait", p.timewait, Load::Shared),
            party(&runtime, "deadpool", p.deadpool, Load::Shared),
            party(&runtime, "bb8", p.bb8, Load::Shared),
            party(&runtime, "std-mutex-vec", p.floor, Load::Shared),
        ];
        compare(&name, &parties, rounds, scale(200_000));
    }
    if runs("keyed") {
        let p = KeyedParties::new(&runtime, KEYS, PER_KEY);
        let parties = [
            party(&runtime, "timewait", p.timewait, Load::Spread),
            party(&runtime, "deadpool", p.deadpool, Load::Spread),
            party(&runtime, "bb8", p.bb8, Load::Spread),
        ];
        compare("keyed", &parties, rounds, scale(300_000));
    }
}
