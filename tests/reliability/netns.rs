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
//! gone are deleted.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns};

/// The environment variable that turns a skip into a failure (CI sets it).
pub const REQUIRE_VAR: &str = "TIMEWAIT_REQUIRE_NETNS";

const PREFIX: &str = "twr-";

static NEXT: AtomicU32 = AtomicU32::new(0);
static CLEAN_STALE: Once = Once::new();

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
    client: String,
    server: String,
    pub client_ip: Ipv4Addr,
    pub server_ip: Ipv4Addr,
}

/// Creates a pair, or says why it cannot: without `TIMEWAIT_REQUIRE_NETNS=1`
/// that is a skip (printed, `None`); with it, a failure.
pub fn pair_or_skip(test: &str) -> Option<NetnsPair> {
    match NetnsPair::create() {
        Ok(pair) => Some(pair),
        Err(reason) => {
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {REQUIRE_VAR}=1 but network namespaces are unavailable: {reason}");
            }
            eprintln!(
                "{test}: skipped: network namespaces are unavailable ({reason}); set {REQUIRE_VAR}=1 to make this a failure"
            );
            None
        }
    }
}

impl NetnsPair {
    /// Creates both namespaces, the veth pair and the addresses; undoes what
    /// it did if a step fails.
    pub fn create() -> Result<NetnsPair, String> {
        if !nix::unistd::Uid::effective().is_root() {
            return Err("not running as root".to_owned());
        }
        ip(&["-V"]).map_err(|e| format!("the `ip` command (iproute2) is not usable: {e}"))?;
        CLEAN_STALE.call_once(delete_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let third = u8::try_from(n % 250).unwrap_or(0) + 1;
        let pair = NetnsPair {
            client: format!("{PREFIX}{pid}-{n}c"),
            server: format!("{PREFIX}{pid}-{n}s"),
            client_ip: Ipv4Addr::new(10, 213, third, 1),
            server_ip: Ipv4Addr::new(10, 213, third, 2),
        };
        // Interface names are at most 15 bytes: "twr" + pid + n + side.
        let (veth_c, veth_s) = (format!("twr{pid}{n}c"), format!("twr{pid}{n}s"));
        // From here on, dropping `pair` deletes whatever was created.
        ip(&["netns", "add", &pair.client])?;
        ip(&["netns", "add", &pair.server])?;
        ip(&[
            "link",
            "add",
            &veth_c,
            "netns",
            &pair.client,
            "type",
            "veth",
            "peer",
            "name",
            &veth_s,
            "netns",
            &pair.server,
        ])?;
        let client_cidr = format!("{}/30", pair.client_ip);
        let server_cidr = format!("{}/30", pair.server_ip);
        for (ns, dev, cidr) in [
            (&pair.client, &veth_c, &client_cidr),
            (&pair.server, &veth_s, &server_cidr),
        ] {
            ip(&["-n", ns, "addr", "add", cidr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Runs `f` on a new thread inside the namespace of `side`.
    pub fn spawn<T, F>(&self, side: Side, f: F) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = format!("/var/run/netns/{}", self.name(side));
        std::thread::Builder::new()
            .name(format!("netns-{side:?}"))
            .spawn(move || {
                enter(&path);
                f()
            })
            .expect("a thread for the namespace")
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("could not delete network namespace {ns}: {e}");
            }
        }
    }
}

/// Moves the calling thread into the network namespace at `path`.
fn enter(path: &str) {
    let handle = File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    setns(&handle, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
}

/// Writes a sysctl of the calling thread's network namespace and reads it
/// back.
pub fn set_sysctl(name: &str, value: &str) -> String {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .trim()
        .to_owned()
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Deletes namespaces with this suite's prefix whose process has ended (a
/// run that was killed before its guards ran).
fn delete_stale() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let alive = !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            eprintln!("deleting stale network namespace {name}");
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
