//! A throwaway PostgreSQL cluster on loopback: `initdb` in a temporary
//! directory, `trust` authentication, run as the `postgres` user when this
//! process is root.

mod cluster;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};

use cluster::{SYSTEM_USER, init_cluster, pg_command, run_as, setup};

use crate::ServerError;
use crate::codec::{PgBackend, PgCodec, PgFrontend};
use crate::probe::Probe;
use crate::supervisor::{DEFAULT_READY_WITHIN, Launch, Supervisor, supervised};
use crate::workdir::Workdir;

/// The role `initdb` creates, and the database it connects to.
pub const POSTGRES_USER: &str = "postgres";
/// The server's name in messages.
const NAME: &str = "postgres";
/// The cluster's directory inside the instance's directory.
const DATA: &str = "data";

/// How to run a [`Postgres`].
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    bin_dir: Option<PathBuf>,
    idle_session_timeout: Option<Duration>,
    ready_within: Duration,
}

impl Default for PostgresConfig {
    /// The newest `/usr/lib/postgresql/<major>/bin`, no idle timeout, 30 s
    /// to start.
    fn default() -> Self {
        Self {
            bin_dir: None,
            idle_session_timeout: None,
            ready_within: DEFAULT_READY_WITHIN,
        }
    }
}

impl PostgresConfig {
    /// Takes `initdb` and `postgres` from this directory.
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// PostgreSQL's `idle_session_timeout` (milliseconds): the backend ends a
    /// session idle this long outside a transaction, closing first. `None`,
    /// the default, never does.
    pub fn idle_session_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_session_timeout = idle;
        self
    }

    /// How long the server may take to accept a startup after it is
    /// started (the cluster's `initdb` comes before and is not counted).
    pub fn ready_within(mut self, within: Duration) -> Self {
        self.ready_within = within;
        self
    }
}

/// A PostgreSQL server on `127.0.0.1` and a fresh port, over a cluster made
/// by `initdb` in a temporary directory of its own (which also holds its
/// Unix socket), accepting role [`POSTGRES_USER`] without a password;
/// stopped on drop.
///
/// Run as root, the server runs as the `postgres` user, which must be able
/// to reach the directory: the system's temporary directory (`TMPDIR`, else
/// `/tmp`) must be searchable by others.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use timewait_servers::{Postgres, PostgresConfig};
/// let postgres = Postgres::start(PostgresConfig::default()).await?;
/// assert!(postgres.dir().join("data/PG_VERSION").exists());
/// let conn = tokio::net::TcpStream::connect(postgres.addr()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Postgres {
    inner: Supervisor<PostgresLaunch>,
    init_time: Duration,
}

#[derive(Debug)]
struct PostgresLaunch {
    postgres: PathBuf,
    run_as: Option<(Uid, Gid)>,
    config: PostgresConfig,
}

impl Postgres {
    /// Makes a cluster with `initdb`, starts `postgres` on it and waits
    /// until a startup as [`POSTGRES_USER`] succeeds.
    ///
    /// Errors: [`ServerError::MissingBinary`] if PostgreSQL is not
    /// installed, [`ServerError::MissingUser`] if this process is root and
    /// there is no `postgres` user, [`ServerError::Prepare`] if `initdb`
    /// fails, [`ServerError::Exited`] or [`ServerError::NotReady`] (with its
    /// log) if the server does not come up.
    pub async fn start(config: PostgresConfig) -> Result<Self, ServerError> {
        let initdb = crate::binary::find_postgres("initdb", config.bin_dir.as_deref())?;
        let postgres = crate::binary::find_postgres("postgres", config.bin_dir.as_deref())?;
        let run_as = run_as()?;
        let dir = Workdir::new(PostgresLaunch::NAME)?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid.as_raw()), Some(gid.as_raw())).map_err(
                |source| {
                    setup(
                        format!("give {} to {SYSTEM_USER}", dir.path().display()),
                        source,
                    )
                },
            )?;
        }
        let started = Instant::now();
        init_cluster(&initdb, &dir, run_as).await?;
        let init_time = started.elapsed();
        let ready_within = config.ready_within;
        let launch = PostgresLaunch {
            postgres,
            run_as,
            config,
        };
        Ok(Self {
            inner: Supervisor::start(launch, dir, ready_within).await?,
            init_time,
        })
    }

    /// How long `initdb` took.
    pub fn init_time(&self) -> Duration {
        self.init_time
    }
}

supervised! {
    Postgres;
    /// Its temporary directory: the cluster is in `data/`, the Unix socket
    /// beside it.
    fn dir;
    /// How long the last start or restart took until a startup succeeded
    /// (`initdb` not included).
    fn last_start;
    /// Stops it with SIGINT (PostgreSQL's fast shutdown: sessions are ended)
    /// and waits for it to exit.
    fn stop;
    /// Kills the postmaster and every backend with SIGKILL, at once.
    fn kill;
    /// Starts it again on the same port and cluster (stopping it first if
    /// it runs); after a kill, PostgreSQL recovers the cluster first.
    fn restart;
}

impl Launch for PostgresLaunch {
    const NAME: &'static str = NAME;
    const GRACEFUL: Signal = Signal::SIGINT;

    fn command(&self, addr: SocketAddr, dir: &Workdir) -> Result<Command, ServerError> {
        let mut command = pg_command(
            crate::process::server_command(&self.postgres),
            dir,
            self.run_as,
        );
        let idle = self
            .config
            .idle_session_timeout
            .map_or(0, |idle| idle.as_millis().max(1));
        command
            .arg("-D")
            .arg(dir.join(DATA))
            .args(["-p", &addr.port().to_string()])
            .arg("-k")
            .arg(dir.path())
            .args(["-c", &format!("listen_addresses={}", addr.ip())])
            .args(["-c", &format!("idle_session_timeout={idle}")])
            // Throwaway data: no durability, and no files outside the
            // directory (dynamic shared memory in the cluster, not /dev/shm).
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "dynamic_shared_memory_type=mmap"])
            .args(["-c", "logging_collector=off"])
            .args(["-c", "max_connections=100"]);
        Ok(command)
    }

    async fn probe(&self, addr: SocketAddr) -> io::Result<()> {
        let mut probe = Probe::connect(addr).await?;
        let mut codec = PgCodec::default();
        let startup = PgFrontend::startup(POSTGRES_USER, POSTGRES_USER);
        probe.send(&mut codec, startup).await?;
        loop {
            match probe.receive(&mut codec).await? {
                PgBackend::ReadyForQuery(_) => break,
                PgBackend::ErrorResponse(e) => {
                    // e.g. 57P03, "the database system is starting up".
                    return Err(io::Error::other(format!(
                        "startup refused: {} {}",
                        e.code().unwrap_or("?"),
                        e.message().unwrap_or("")
                    )));
                }
                _ => {}
            }
        }
        probe.send(&mut codec, PgFrontend::Terminate).await?;
        probe.close_after_server().await?;
        Ok(())
    }
}
