//! `timewait census` against `ss`, in a network namespace filled with known
//! TIME_WAIT entries on each side (root and iproute2; skipped otherwise
//! unless `TIMEWAIT_REQUIRE_NETNS=1`).

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

#[test]
fn census_groups_match_ss_and_the_entries_made_on_each_side() {
    let Some(ns) = netns_or_skip("census_groups_match_ss") else {
        return;
    };
    let filled = fill(
        &ns,
        &[
            (Ipv4Addr::new(127, 0, 0, 1), 30),
            (Ipv4Addr::new(127, 0, 0, 2), 20),
        ],
        25,
    );
    let ss = ns.ss_time_wait();
    assert_eq!(ss.len(), filled.total(), "ss sees every entry made");

    let out = ns.timewait(&["census", "--json", "--top", "1000"]);
    let json: Value = serde_json::from_str(&out).expect("census --json is JSON");
    let census = &json["census"];
    assert_eq!(census["source"], "sock_diag");
    assert_eq!(count(&census["time_wait"]), ss.len());
    assert_eq!(count(&json["time_wait_total"]), ss.len(), "sockstat agrees");
    assert_eq!(count(&census["server_side"]), filled.server.1);
    assert_eq!(count(&census["client_side"]), filled.client_total());

    // By remote endpoint: the same groups as ss's peers, with the counts made.
    let by_peer = count_by(&ss, |(_, peer)| peer.to_string());
    let by_remote: std::collections::BTreeMap<String, usize> = census["by_remote"]
        .as_array()
        .expect("by_remote")
        .iter()
        .map(|g| {
            (
                g["remote"].as_str().expect("remote").to_owned(),
                count(&g["count"]),
            )
        })
        .collect();
    assert_eq!(by_remote, by_peer);
    for (dest, n) in &filled.client {
        assert_eq!(by_remote.get(&dest.to_string()), Some(n), "toward {dest}");
    }

    // By local port: the same as ss's, and the server's port on its side.
    let by_port = count_by(&ss, |(local, _)| local.port());
    let groups = census["by_local_port"].as_array().expect("by_local_port");
    let by_local: std::collections::BTreeMap<u16, usize> = groups
        .iter()
        .map(|g| {
            let port = g["local_port"].as_u64().and_then(|p| u16::try_from(p).ok());
            (port.expect("a port"), count(&g["count"]))
        })
        .collect();
    assert_eq!(by_local, by_port);
    let server_port = filled.server.0.port();
    let server_group = groups
        .iter()
        .find(|g| g["local_port"] == u64::from(server_port))
        .expect("the server's port");
    assert_eq!(count(&server_group["count"]), filled.server.1);
    assert_eq!(server_group["side"], "server");
    assert!(
        groups
            .iter()
            .filter(|g| g["local_port"] != u64::from(server_port))
            .all(|g| g["side"] == "client")
    );

    // --port keeps the entries with that port at either end, as ss's filter does.
    let (dest, n) = filled.client[0];
    let port = dest.port().to_string();
    let out = ns.timewait(&["census", "--json", "--port", &port]);
    let json: Value = serde_json::from_str(&out).expect("JSON");
    let by_ss = ss
        .iter()
        .filter(|(l, p)| l.port() == dest.port() || p.port() == dest.port())
        .count();
    assert_eq!(count(&json["census"]["time_wait"]), by_ss);
    assert_eq!(by_ss, n);

    // The text form lists the same groups, largest first, cut at --top.
    let text = ns.timewait(&["census", "--top", "1"]);
    let remote_lines = text
        .lines()
        .skip_while(|l| !l.starts_with("remote endpoint"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>();
    assert_eq!(remote_lines.len(), 1, "{text}");
    assert!(
        remote_lines[0].starts_with(&filled.client[0].0.to_string()),
        "{text}"
    );
    drop(filled);
}
