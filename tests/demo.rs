//! The demo, run as CI runs it (small arguments), its rows checked against
//! what the kernel must have seen: each scenario's TIME_WAIT is on the side
//! that closed first, one entry per connection.
//!
//! The rows' TIME_WAIT counts are the kernel's census, taken by the demo once
//! every connection had closed, on a server port no other socket used; the
//! test checks them against the demo's own request and connect counts. No
//! assertion on speed.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use support::run_example;
use timewait::core::sys;

const SCENARIOS: [&str; 3] = ["connect-per-request", "pool-local", "pool-peer-first"];
const KEYS: [&str; 10] = [
    "scenario",
    "requests",
    "errors",
    "seconds",
    "req_per_sec",
    "p50_us",
    "p99_us",
    "connects",
    "client_time_wait",
    "server_time_wait",
];
/// Few enough that connect() cannot come back round the default port range
/// (see the connect-per-request check).
const REQUESTS: u64 = 1500;

fn u(row: &Value, key: &str) -> u64 {
    row[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {row}"))
}

/// A file in the temporary directory that is removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn demo_json_rows_show_time_wait_on_the_side_that_closed_first() {
    let plot = TempFile(
        std::env::temp_dir().join(format!("timewait-demo-test-{}.svg", std::process::id())),
    );
    let output = run_example(
        "demo",
        &[
            "--requests",
            &REQUESTS.to_string(),
            "--concurrency",
            "4",
            "--json",
            "--plot",
            plot.0.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();

    // One row per scenario, in order, with exactly the documented keys.
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, SCENARIOS);
    for row in &rows {
        let keys: BTreeSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(KEYS), "{row}");
        assert_eq!(u(row, "requests"), REQUESTS, "{row}");
        assert_eq!(u(row, "errors"), 0, "{row}");
        assert!(row["seconds"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["req_per_sec"].as_f64().unwrap() > 0.0, "{row}");
        assert!(u(row, "p50_us") <= u(row, "p99_us"), "{row}");
    }
    let [plain, local, peer_first] = [&rows[0], &rows[1], &rows[2]];

    // Connect-per-request: one connection per request, each closed first by
    // the client, so each leaves an entry on the client, unless tcp_tw_reuse
    // (2 on loopback by default) lets connect() take one over. That needs
    // connect() to come back to a port it left in TIME_WAIT toward this
    // server: it starts each search 2 to 16 ports past the last (Linux 5.18+;
    // 2 before), so REQUESTS connections advance it at most 16 × REQUESTS
    // ports. Below one round of the usable range, no entry can be reused.
    assert_eq!(u(plain, "connects"), REQUESTS, "{plain}");
    let usable = u64::from(sys::port_budget().unwrap().usable_ports());
    if 16 * REQUESTS < usable {
        assert_eq!(u(plain, "client_time_wait"), REQUESTS, "{plain}");
    } else {
        // A narrowed range: recycling may already have begun.
        assert!(
            (1..=REQUESTS).contains(&u(plain, "client_time_wait")),
            "{plain}"
        );
    }
    assert_eq!(u(plain, "server_time_wait"), 0, "{plain}");

    // The pools recycle connections, so they make far fewer; the local
    // policy leaves each one's TIME_WAIT on the client, peer-first on the
    // server.
    for pooled in [local, peer_first] {
        let connects = u(pooled, "connects");
        assert!((1..REQUESTS).contains(&connects), "{pooled}");
    }
    assert_eq!(
        u(local, "client_time_wait"),
        u(local, "connects"),
        "{local}"
    );
    assert_eq!(u(local, "server_time_wait"), 0, "{local}");
    assert_eq!(u(peer_first, "client_time_wait"), 0, "{peer_first}");
    assert_eq!(
        u(peer_first, "server_time_wait"),
        u(peer_first, "connects"),
        "{peer_first}"
    );

    // The chart is an SVG naming every scenario.
    let svg = std::fs::read_to_string(&plot.0).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for name in SCENARIOS {
        assert!(svg.contains(name), "the chart does not name {name}");
    }
}

#[test]
fn demo_table_is_followed_by_the_port_budget_and_a_reading_of_its_numbers() {
    let output = run_example("demo", &["--requests", "300", "--concurrency", "2"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let table_rows: Vec<&str> = stdout
        .lines()
        .filter(|line| SCENARIOS.iter().any(|s| line.starts_with(s)))
        .collect();
    assert_eq!(table_rows.len(), 3, "{stdout}");
    // Text mode prints no JSON, and no progress bar when stdout is a pipe.
    assert!(!stdout.contains('{'), "{stdout}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("300/300"));
    assert!(stdout.contains("port budget of this machine"), "{stdout}");
    assert!(stdout.contains("tcp_tw_reuse"), "{stdout}");
    // The reading is computed: it quotes this run's request count.
    assert!(
        stdout.contains("In this run, connect-per-request made 300 connections"),
        "{stdout}"
    );
}
