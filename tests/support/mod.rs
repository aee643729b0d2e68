//! What the root package's tests share: finding and running the examples.
#![allow(dead_code)] // each test file uses part of it
#![allow(unreachable_pub)] // `pub` here means "for the test files"

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The path of the example binary `name`, as `cargo test` builds it (into
/// `target/<profile>/examples/`, beside the `deps/` folder this test runs
/// from).
///
/// # Panics
///
/// When it is not there: `cargo test --test <file>` alone does not build the
/// examples; `cargo test --workspace` and `cargo build --examples` do.
pub fn example(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary runs from target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built; run `cargo test --workspace` or `cargo build --examples` first",
        path.display()
    );
    path
}

/// Runs the example `name` with `args` and returns its output, asserting it
/// exited successfully (its stderr is shown when it did not).
pub fn run_example(name: &str, args: &[&str]) -> Output {
    let output = Command::new(example(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run example {name}: {e}"));
    assert!(
        output.status.success(),
        "example {name} {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs the example `name` with `args` to its end and returns its output,
/// whatever its exit status; kills it and panics if it runs past `within`
/// (a hang, not a slow run: give a generous bound).
pub fn run_example_within(name: &str, args: &[String], within: Duration) -> Output {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run example {name}: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("the example's status").is_none() {
        if start.elapsed() > within {
            let _ = child.kill();
            let output = child
                .wait_with_output()
                .expect("the killed example's output");
            panic!(
                "example {name} ran past {within:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the example's output")
}
