//! `timewait watch` refreshes until Ctrl-C and then exits 0; with `--json`
//! each refresh is one line, and from the second on, rates are known.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

#[test]
fn watch_prints_a_line_per_refresh_and_ends_cleanly_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timewait"))
        .args(["watch", "--json", "--interval", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("timewait watch starts");
    let stdout = child.stdout.take().expect("its stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut views = Vec::new();
    for _ in 0..3 {
        let line = lines.next().expect("a refresh").expect("a line of output");
        views.push(serde_json::from_str::<Value>(&line).expect("one JSON view a line"));
    }
    assert_eq!(
        views[0]["elapsed_ms"],
        Value::Null,
        "the first view has no rates"
    );
    assert!(views[1]["elapsed_ms"].as_u64().is_some_and(|ms| ms >= 50));
    assert!(views[2]["elapsed_ms"].as_u64().is_some());

    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    kill(pid, Signal::SIGINT).expect("SIGINT delivered");
    let output = child.wait_with_output().expect("watch ends");
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty());
}
