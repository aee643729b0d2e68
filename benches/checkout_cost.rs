//! Instructions per uncontended checkout and return, counted rather than
//! timed: wall-clock figures on a shared VM move by a third from run to run,
//! instruction counts under callgrind do not.
//!
//! `cargo bench --bench checkout_cost -- <party> <cycles>` runs `cycles`
//! uncontended cycles of one party (`timewait`, `deadpool`, `bb8`,
//! `std-mutex-vec`) on a current-thread runtime and exits;
//! `benches/instructions.sh` runs each party twice under callgrind and
//! prints the difference per cycle, which leaves out start-up and the
//! runtime's own set-up. Without a party (as `cargo bench -- --test` runs
//! it), it runs a few cycles of each, as a check that they still work.

#[path = "support/dummy.rs"]
mod dummy;
#[path = "support/parties.rs"]
mod parties;

use parties::{Cycle, KEY, Parties};

/// The pools' size.
const SIZE: usize = 8;

fn run<P: Cycle>(runtime: &tokio::runtime::Runtime, mut pool: P, cycles: u64) {
    runtime.block_on(async move {
        for _ in 0..cycles {
            pool.cycle(KEY, false).await;
        }
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let parties = Parties::new(&runtime, SIZE);
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let cycles = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    match args.first().map(String::as_str) {
        Some("timewait") => run(&runtime, parties.timewait, cycles),
        Some("deadpool") => run(&runtime, parties.deadpool, cycles),
        Some("bb8") => run(&runtime, parties.bb8, cycles),
        Some("std-mutex-vec") => run(&runtime, parties.floor, cycles),
        Some(other) => {
            eprintln!("unknown party {other:?}: timewait, deadpool, bb8 or std-mutex-vec");
            std::process::exit(2);
        }
        None => {
            run(&runtime, parties.timewait, cycles);
            run(&runtime, parties.deadpool, cycles);
            run(&runtime, parties.bb8, cycles);
            run(&runtime, parties.floor, cycles);
        }
    }
}
