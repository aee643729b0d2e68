//! `timewait watch --once --json` against `ss`, in a network namespace
//! filled with known TIME_WAIT entries on each side (root and iproute2;
//! skipped otherwise unless `TIMEWAIT_REQUIRE_NETNS=1`).

mod support;

use std::net::Ipv4Addr;

use serde_json::Value;
use support::{NetnsExt, count_by, fill, netns_or_skip};

fn count(value: &Value) -> usize {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .expect("a count")
}

fn row<'a>(rows: &'a Value, key: &str, value: &Value) -> &'a Value {
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|r| &r[key] == value)
        .unwrap_or_else(|| panic!("a row with {key} = {value} in {rows}"))
}

#[test]
fn watch_once_matches_ss_per_destination_and_per_listening_port() {
    let Some(ns) = netns_or_skip("watch_once_matches_ss") else {
        return;
    };
    let filled = fill(
        &ns,
        &[
            (Ipv4Addr::new(127, 0, 0, 1), 40),
            (Ipv4Addr::new(127, 0, 0, 3), 15),
        ],
        30,
    );
    let ss = ns.ss_time_wait();
    let server_port = filled.server.0.port();
    let client: Vec<_> = ss
        .iter()
        .copied()
        .filter(|(local, _)| local.port() != server_port)
        .collect();
    let by_peer = count_by(&client, |(_, peer)| peer.to_string());

    // One snapshot: counts, and no rates.
    let out = ns.timewait(&[
        "watch",
        "--once",
        "--json",
        "--interval",
        "0",
        "--top",
        "1000",
    ]);
    let view: Value = serde_json::from_str(&out).expect("watch --json is JSON");
    assert_eq!(view["elapsed_ms"], Value::Null);
    assert_eq!(view["source"], "sock_diag");
    assert_eq!(count(&view["client_time_wait"]), filled.client_total());
    assert_eq!(count(&view["server_time_wait"]), filled.server.1);
    assert_eq!(count(&view["destinations_total"]), by_peer.len());
    for (peer, n) in &by_peer {
        let d = row(&view["destinations"], "remote", &Value::from(peer.as_str()));
        assert_eq!(count(&d["time_wait"]), *n, "toward {peer}");
        assert_eq!(d["rate_per_second"], Value::Null);
        assert_eq!(d["exhaustion"], "unknown");
        let ports = d["ports"].as_u64().expect("ports");
        assert_eq!(d["headroom"].as_u64(), Some(ports - *n as u64));
    }
    for (dest, n) in &filled.client {
        let d = row(
            &view["destinations"],
            "remote",
            &Value::from(dest.to_string()),
        );
        assert_eq!(count(&d["time_wait"]), *n);
        let l = row(&view["listening"], "port", &Value::from(dest.port()));
        assert_eq!(l["held_by"], "client");
        assert_eq!(count(&l["client_time_wait"]), *n);
    }
    let l = row(&view["listening"], "port", &Value::from(server_port));
    assert_eq!(l["held_by"], "server");
    assert_eq!(count(&l["server_time_wait"]), filled.server.1);

    // Two snapshots 100 ms apart: nothing happened in between, so no entry
    // is new (the entries' time left went down, not up).
    let out = ns.timewait(&[
        "watch",
        "--once",
        "--json",
        "--interval",
        "100ms",
        "--top",
        "1000",
    ]);
    let view: Value = serde_json::from_str(&out).expect("JSON");
    assert!(view["elapsed_ms"].as_u64().is_some_and(|ms| ms >= 100));
    for (dest, n) in &filled.client {
        let d = row(
            &view["destinations"],
            "remote",
            &Value::from(dest.to_string()),
        );
        assert_eq!(count(&d["time_wait"]), *n);
        assert_eq!(d["new_time_wait"], 0);
        assert_eq!(d["rate_per_second"], 0.0);
        assert_eq!(d["exhaustion"], "never");
    }
    let l = row(&view["listening"], "port", &Value::from(server_port));
    assert_eq!(l["new_server_time_wait"], 0);

    // The text form shows the same destinations.
    let text = ns.timewait(&["watch", "--once", "--interval", "0"]);
    for (dest, _) in &filled.client {
        assert!(text.contains(&dest.to_string()), "{text}");
    }
    drop(filled);
}
