//! Two network namespaces joined by a veth pair, for what loopback hides.
//!
//! On loopback `net.ipv4.tcp_tw_reuse=2` lets a client reuse its own
//! TIME_WAIT ports, so port exhaustion never shows. Both that sysctl and
//! `ip_local_port_range` are per namespace: a client namespace with
//! `tcp_tw_reuse=0` and a narrow range, talking over a veth pair to a server
//! namespace, runs out of ports as a real host does.
//!
//! Each side runs on a thread of its own that first enters its namespace
//! with `setns(2)`, then runs a current-thread tokio runtime: a socket
//! belongs to the namespace of the thread that creates it, and from that
//! thread `/proc/sys/net` shows the namespace's sysctls and a sock_diag
//! census sees the namespace's sockets. This keeps the whole test in one
//! process (the pool's stats and errors are plain values, not a child's
//! output) where re-running the binary under `ip netns exec` would need a
//! protocol between parent and child. Nothing of tokio's blocking pool is
//! used on these threads: the keys are socket addresses, which need no
//! resolver, and a blocking-pool thread would be in the original namespace.
//!
//! Namespaces are named `twr-<pid>-<n>c` and `twr-<pid>-<n>s`; a guard
//! deletes them when dropped, which also deletes the veth pair, even when
//! the test fails. At start, namespaces with this prefix whose process is
//! gone are deleted. One namespace, its guard, entering it and the skip are
//! `timewait_echo::netns`'s, which the CLI's tests share; the pair is this
//! suite's.

use std::net::Ipv4Addr;
use std::thread::JoinHandle;

use timewait_echo::netns::{self, Netns, ip};

const PREFIX: &str = "twr-";

/// Which side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// A client namespace and a server namespace joined by a veth pair, with
/// addresses `10.213.<n>.1` (client) and `10.213.<n>.2` (server) on a /30.
/// Dropping it deletes both namespaces.
#[derive(Debug)]
pub struct NetnsPair {
    client: Netns,
    server: Netns,
    pub client_ip: Ipv4Addr,
    pub server_ip: Ipv4Addr,
}

/// Creates a pair, or says why it cannot: without `TIMEWAIT_REQUIRE_NETNS=1`
/// that is a skip (printed, `None`); with it, a failure.
pub fn pair_or_skip(test: &str) -> Option<NetnsPair> {
    netns::or_skip(test, NetnsPair::create())
}

impl NetnsPair {
    /// Creates both namespaces, the veth pair and the addresses; undoes what
    /// it did if a step fails.
    pub fn create() -> Result<NetnsPair, String> {
        let n = netns::prepare(PREFIX)?;
        let pid = std::process::id();
        let third = u8::try_from(n % 250).unwrap_or(0) + 1;
        // From here on, dropping what was made deletes it.
        let pair = NetnsPair {
            client: Netns::add(PREFIX, n, "c")?,
            server: Netns::add(PREFIX, n, "s")?,
            client_ip: Ipv4Addr::new(10, 213, third, 1),
            server_ip: Ipv4Addr::new(10, 213, third, 2),
        };
        // Interface names are at most 15 bytes: "twr" + pid + n + side.
        let (veth_c, veth_s) = (format!("twr{pid}{n}c"), format!("twr{pid}{n}s"));
        ip(&[
            "link",
            "add",
            &veth_c,
            "netns",
            pair.client.name(),
            "type",
            "veth",
            "peer",
            "name",
            &veth_s,
            "netns",
            pair.server.name(),
        ])?;
        let client_cidr = format!("{}/30", pair.client_ip);
        let server_cidr = format!("{}/30", pair.server_ip);
        for (ns, dev, cidr) in [
            (&pair.client, &veth_c, &client_cidr),
            (&pair.server, &veth_s, &server_cidr),
        ] {
            ip(&["-n", ns.name(), "addr", "add", cidr, "dev", dev])?;
            ip(&["-n", ns.name(), "link", "set", dev, "up"])?;
        }
        Ok(pair)
    }

    pub fn name(&self, side: Side) -> &str {
        self.netns(side).name()
    }

    /// Runs `f` on a new thread inside the namespace of `side`.
    pub fn spawn<T, F>(&self, side: Side, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.netns(side).spawn(f)
    }

    fn netns(&self, side: Side) -> &Netns {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }
}
