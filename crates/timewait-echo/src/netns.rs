//! Network namespaces for the tests and benches: where loopback hides what
//! a real host shows (`tcp_tw_reuse` and `ip_local_port_range` are per
//! namespace), or where a count must see only the sockets made for it.
//!
//! Two ways in, both for root:
//!
//! - [`Netns`]: a named namespace (`ip netns add`, iproute2) with its
//!   loopback up, deleted by its guard when dropped, also when a test fails.
//!   A thread enters it with `setns(2)` ([`Netns::spawn`], [`Netns::run`]):
//!   a socket belongs to the namespace of the thread that makes it, and from
//!   that thread `/proc/sys/net` shows the namespace's sysctls and a
//!   sock_diag census sees its sockets. [`Netns::exec`] runs a program
//!   inside (`ip netns exec`). Names are `<prefix><pid>-<n><suffix>`: the
//!   first [`prepare`] for a prefix deletes that prefix's namespaces whose
//!   process is gone (a run killed before its guards ran).
//! - [`unshare_fresh`]: the calling thread leaves for a new namespace of its
//!   own, for a bench that fills it with TIME_WAIT entries
//!   ([`close_client_first`]) and counts them.
//!
//! Without root or iproute2 a test skips, saying why, unless
//! `TIMEWAIT_REQUIRE_NETNS=1` makes that a failure ([`or_skip`]).
//!
//! These helpers are for tests: a step that cannot fail on a machine where
//! the namespace was made (entering it, writing its sysctls) panics.
//!
//! ```no_run
//! use timewait_echo::netns::{self, Netns};
//!
//! let made = netns::prepare("doc-").and_then(|n| Netns::add("doc-", n, ""));
//! let Some(ns) = netns::or_skip("doc", made) else { return };
//! let reuse = ns.run(|| netns::set_sysctl("net.ipv4.tcp_tw_reuse", "0"));
//! assert_eq!(reuse, "0");
//! ```

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns, unshare};

/// The environment variable that turns a skip into a failure (CI sets it).
pub const REQUIRE_VAR: &str = "TIMEWAIT_REQUIRE_NETNS";

/// Where `ip netns add` puts a namespace's handle.
const RUN_DIR: &str = "/var/run/netns";

static NEXT: AtomicU32 = AtomicU32::new(0);
/// The prefixes whose stale namespaces were deleted in this process.
static CLEANED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `made`, or the reason it failed as a skip: printed, `None`; with
/// `TIMEWAIT_REQUIRE_NETNS=1`, a panic naming `test`.
pub fn or_skip<T>(test: &str, made: Result<T, String>) -> Option<T> {
    match made {
        Ok(made) => Some(made),
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

/// Checks that namespaces can be made here (root, a usable `ip`), deletes
/// the stale ones of `prefix` the first time, and returns a number no other
/// namespace of this process has, for [`Netns::add`].
pub fn prepare(prefix: &str) -> Result<u32, String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err("not running as root".to_owned());
    }
    ip(&["-V"]).map_err(|e| format!("the `ip` command (iproute2) is not usable: {e}"))?;
    {
        let mut cleaned = CLEANED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !cleaned.iter().any(|p| p == prefix) {
            delete_stale(prefix);
            cleaned.push(prefix.to_owned());
        }
    }
    Ok(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A named network namespace with its loopback up; dropping it deletes it
/// (and the interfaces in it).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Adds the namespace `<prefix><pid>-<n><suffix>` (`n` from
    /// [`prepare`]) and brings its loopback up; deletes it again if that
    /// fails.
    pub fn add(prefix: &str, n: u32, suffix: &str) -> Result<Netns, String> {
        let name = format!("{prefix}{}-{n}{suffix}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on, dropping `ns` deletes it.
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name, for `ip -n`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a new thread inside the namespace.
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = format!("{RUN_DIR}/{}", self.name);
        std::thread::Builder::new()
            .name(format!("netns-{}", self.name))
            .spawn(move || {
                enter(&path);
                f()
            })
            .expect("a thread for the namespace")
    }

    /// Runs `f` on a thread inside the namespace and returns what it
    /// returns; a panic there is a panic here.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f)
            .join()
            .unwrap_or_else(|_| panic!("the thread in namespace {} panicked", self.name))
    }

    /// Runs `program args…` inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {program}: {e}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("could not delete network namespace {}: {e}", self.name);
        }
    }
}

/// Moves the calling thread into a new network namespace of its own with
/// its loopback up and `tcp_tw_reuse` off, so a client never reuses a port
/// it holds in TIME_WAIT. `Err` says why it stayed where it was.
pub fn unshare_fresh() -> Result<(), String> {
    const TCP_TW_REUSE: &str = "/proc/sys/net/ipv4/tcp_tw_reuse";
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    // `/proc/sys/net` shows the namespace of the thread that opens it.
    std::fs::write(TCP_TW_REUSE, "0").map_err(|e| format!("{TCP_TW_REUSE}: {e}"))?;
    // A child process starts in its parent thread's namespace.
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("ip link set lo up: {e}"))?;
    if !status.success() {
        return Err(format!("ip link set lo up: {status}"));
    }
    Ok(())
}

/// Opens and closes `n` connections to `listeners` in turn, the client
/// closing first and the server only after the client's FIN, so each leaves
/// exactly one TIME_WAIT entry, on the client's side.
///
/// # Panics
///
/// If `listeners` is empty, or a connection cannot be made.
pub fn close_client_first(listeners: &[TcpListener], n: usize) {
    assert!(!listeners.is_empty(), "a listener to connect to");
    let mut byte = [0u8; 1];
    for listener in listeners.iter().cycle().take(n) {
        let addr = listener.local_addr().expect("the listener's address");
        let client = TcpStream::connect(addr).expect("a loopback connection");
        let (mut server, _) = listener.accept().expect("the connection, accepted");
        drop(client);
        // Blocks until the client's FIN: the server's close is the passive one.
        let read = server.read(&mut byte).expect("the client's FIN");
        assert_eq!(read, 0, "the client sent nothing but its FIN");
    }
}

/// `count` listeners on the loopback, for [`close_client_first`].
pub fn loopback_listeners(count: usize) -> Vec<TcpListener> {
    (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback listener"))
        .collect()
}

/// Writes a sysctl (`net.ipv4.tcp_tw_reuse`) of the calling thread's network
/// namespace and reads it back.
pub fn set_sysctl(name: &str, value: &str) -> String {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .trim()
        .to_owned()
}

/// Runs `ip args…`; `Err` has its standard error.
pub fn ip(args: &[&str]) -> Result<(), String> {
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

/// Moves the calling thread into the network namespace at `path`.
fn enter(path: &str) {
    let handle = File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    setns(&handle, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
}

/// Deletes the namespaces named with `prefix` whose process has ended.
fn delete_stale(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(RUN_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.is_empty() || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("deleting stale network namespace {name}");
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
