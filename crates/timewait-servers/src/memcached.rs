//! `memcached` on loopback, TCP only.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::ServerError;
use crate::codec::{Memcache, MemcacheRequest, MemcacheResponse};
use crate::probe::Probe;
use crate::supervisor::{DEFAULT_READY_WITHIN, Launch, Supervisor, supervised};
use crate::workdir::Workdir;

/// How to run a [`Memcached`].
#[derive(Debug, Clone)]
pub struct MemcachedConfig {
    binary: Option<PathBuf>,
    idle_timeout: Option<Duration>,
    ready_within: Duration,
}

impl Default for MemcachedConfig {
    /// `memcached` from `PATH`, no idle timeout, 30 s to start.
    fn default() -> Self {
        Self {
            binary: None,
            idle_timeout: None,
            ready_within: DEFAULT_READY_WITHIN,
        }
    }
}

impl MemcachedConfig {
    /// Runs this program instead of `memcached` from `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// memcached's `idle_timeout` (whole seconds, at least one): the server
    /// closes a client idle this long. `None`, the default, never does.
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// How long the server may take to answer `version` after a start.
    pub fn ready_within(mut self, within: Duration) -> Self {
        self.ready_within = within;
        self
    }
}

/// A `memcached` listening on `127.0.0.1` and a fresh port (TCP only, 64 MiB
/// of memory), run from a temporary directory of its own; stopped on drop.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use timewait_servers::{Memcached, MemcachedConfig};
/// let memcached = Memcached::start(MemcachedConfig::default()).await?;
/// let conn = tokio::net::TcpStream::connect(memcached.addr()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Memcached {
    inner: Supervisor<MemcachedLaunch>,
}

#[derive(Debug)]
struct MemcachedLaunch {
    binary: PathBuf,
    config: MemcachedConfig,
}

impl Memcached {
    /// Starts `memcached` and waits until it answers `version`.
    ///
    /// Errors: [`ServerError::MissingBinary`] if memcached is not installed,
    /// [`ServerError::Exited`] or [`ServerError::NotReady`] (with its log)
    /// if it does not come up.
    pub async fn start(config: MemcachedConfig) -> Result<Self, ServerError> {
        let binary = crate::binary::find("memcached", "memcached", config.binary.as_deref())?;
        let dir = Workdir::new(MemcachedLaunch::NAME)?;
        let ready_within = config.ready_within;
        let launch = MemcachedLaunch { binary, config };
        Ok(Self {
            inner: Supervisor::start(launch, dir, ready_within).await?,
        })
    }
}

supervised! {
    Memcached;
    /// Its temporary directory.
    fn dir;
    /// How long the last start or restart took until `version` was
    /// answered.
    fn last_start;
    /// Stops it with SIGTERM and waits for it to exit: memcached notices at
    /// its next clock tick, so this takes up to a second.
    fn stop;
    /// Kills it with SIGKILL, at once.
    fn kill;
    /// Starts it again on the same port (stopping it first if it runs).
    fn restart;
}

impl Launch for MemcachedLaunch {
    const NAME: &'static str = "memcached";
    const GRACEFUL: Signal = Signal::SIGTERM;

    fn command(&self, addr: SocketAddr, dir: &Workdir) -> Result<Command, ServerError> {
        let mut command = crate::process::server_command(&self.binary);
        command
            .current_dir(dir.path())
            .args(["-l", &addr.ip().to_string()])
            .args(["-p", &addr.port().to_string()])
            .args(["-U", "0"])
            .args(["-m", "64"]);
        if let Some(idle) = self.config.idle_timeout {
            command.args(["-o", &format!("idle_timeout={}", idle.as_secs().max(1))]);
        }
        // memcached refuses to run as root unless told which user to be.
        if nix::unistd::geteuid().is_root() {
            command.args(["-u", "root"]);
        }
        Ok(command)
    }

    async fn probe(&self, addr: SocketAddr) -> io::Result<()> {
        let mut probe = Probe::connect(addr).await?;
        let mut codec = Memcache::default();
        probe.send(&mut codec, MemcacheRequest::Version).await?;
        match probe.receive(&mut codec).await? {
            MemcacheResponse::Version(_) => {}
            other => return Err(io::Error::other(format!("version answered {other:?}"))),
        }
        probe.send(&mut codec, MemcacheRequest::Quit).await?;
        probe.close_after_server().await?;
        Ok(())
    }
}
