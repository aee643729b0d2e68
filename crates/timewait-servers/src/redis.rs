//! `redis-server` on loopback, persisting nothing.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::ServerError;
use crate::codec::{Resp, RespCommand, RespValue};
use crate::probe::Probe;
use crate::supervisor::{DEFAULT_READY_WITHIN, Launch, Supervisor, supervised};
use crate::workdir::Workdir;

/// How to run a [`Redis`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    binary: Option<PathBuf>,
    idle_timeout: Option<Duration>,
    ready_within: Duration,
}

impl Default for RedisConfig {
    /// `redis-server` from `PATH`, no idle timeout, 30 s to start.
    fn default() -> Self {
        Self {
            binary: None,
            idle_timeout: None,
            ready_within: DEFAULT_READY_WITHIN,
        }
    }
}

impl RedisConfig {
    /// Runs this program instead of `redis-server` from `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Redis's `timeout`: the server closes a client idle this long (whole
    /// seconds, at least one; Redis checks about every 100 ms). `None`, the
    /// default, never closes idle clients.
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// How long the server may take to answer `PING` after a start.
    pub fn ready_within(mut self, within: Duration) -> Self {
        self.ready_within = within;
        self
    }
}

/// A `redis-server` listening on `127.0.0.1` and a fresh port, with no
/// persistence and its working directory in a temporary directory of its
/// own; stopped on drop.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), timewait_servers::ServerError> {
/// use timewait_servers::{Redis, RedisConfig};
/// let mut redis = Redis::start(RedisConfig::default()).await?;
/// let addr = redis.addr();
/// assert!(addr.ip().is_loopback());
/// redis.kill()?;
/// redis.restart().await?;
/// assert_eq!(redis.addr(), addr);
/// redis.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Redis {
    inner: Supervisor<RedisLaunch>,
}

#[derive(Debug)]
struct RedisLaunch {
    binary: PathBuf,
    config: RedisConfig,
}

impl Redis {
    /// Starts `redis-server` and waits until it answers `PING`.
    ///
    /// Errors: [`ServerError::MissingBinary`] if Redis is not installed,
    /// [`ServerError::Exited`] or [`ServerError::NotReady`] (with its log)
    /// if it does not come up.
    pub async fn start(config: RedisConfig) -> Result<Self, ServerError> {
        let binary = crate::binary::find("redis-server", "redis-server", config.binary.as_deref())?;
        let dir = Workdir::new(RedisLaunch::NAME)?;
        let ready_within = config.ready_within;
        let launch = RedisLaunch { binary, config };
        Ok(Self {
            inner: Supervisor::start(launch, dir, ready_within).await?,
        })
    }
}

supervised! {
    Redis;
    /// Its temporary directory.
    fn dir;
    /// How long the last start or restart took until `PING` was answered.
    fn last_start;
    /// Stops it with SIGTERM and waits for it to exit.
    fn stop;
    /// Kills it with SIGKILL, at once: its clients see their connections
    /// reset or closed by the kernel.
    fn kill;
    /// Starts it again on the same port (stopping it first if it runs).
    fn restart;
}

impl Launch for RedisLaunch {
    const NAME: &'static str = "redis";
    const GRACEFUL: Signal = Signal::SIGTERM;

    fn command(&self, addr: SocketAddr, dir: &Workdir) -> Result<Command, ServerError> {
        let timeout = self
            .config
            .idle_timeout
            .map_or(0, |idle| idle.as_secs().max(1));
        let mut command = crate::process::server_command(&self.binary);
        command
            .current_dir(dir.path())
            .args(["--port", &addr.port().to_string()])
            .args(["--bind", &addr.ip().to_string()])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--timeout", &timeout.to_string()])
            .args(["--daemonize", "no"])
            // An empty log file name: the log goes to standard output.
            .args(["--logfile", ""]);
        Ok(command)
    }

    async fn probe(&self, addr: SocketAddr) -> io::Result<()> {
        let mut probe = Probe::connect(addr).await?;
        let mut codec = Resp::default();
        probe.send(&mut codec, RespCommand::new(["PING"])).await?;
        match probe.receive(&mut codec).await? {
            RespValue::Simple(pong) if pong == "PONG" => {}
            other => return Err(io::Error::other(format!("PING answered {other:?}"))),
        }
        probe.send(&mut codec, RespCommand::new(["QUIT"])).await?;
        probe.receive(&mut codec).await?;
        probe.close_after_server().await?;
        Ok(())
    }
}
