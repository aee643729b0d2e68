//! What can go wrong starting, probing or stopping a server.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a server could not be started, restarted or stopped.
///
/// Every message says what to do about it where something can be done: a
/// missing program names the Debian package to install, a server that died
/// or never answered shows the tail of its log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The server's program is not installed.
    #[error("{program} not found ({looked_in}): install it with `apt-get install {package}`")]
    MissingBinary {
        /// The program looked for, e.g. `redis-server`.
        program: &'static str,
        /// Where it was looked for.
        looked_in: String,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// The system user a server must run as does not exist.
    #[error("user {user:?} not found: install it with `apt-get install {package}`")]
    MissingUser {
        /// The user, e.g. `postgres`.
        user: &'static str,
        /// The Debian package that creates it.
        package: &'static str,
    },
    /// Preparing the server's directory, configuration or port failed.
    #[error("{server}: cannot {what}")]
    Setup {
        /// Which server.
        server: &'static str,
        /// What was being done, e.g. `write nginx.conf`.
        what: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A preparatory program (such as `initdb`) failed.
    #[error("{server}: {program} failed ({status}):\n{output}")]
    Prepare {
        /// Which server.
        server: &'static str,
        /// The program that failed.
        program: PathBuf,
        /// How it ended.
        status: ExitStatus,
        /// The end of what it printed.
        output: String,
    },
    /// The server's process could not be started.
    #[error("{server}: cannot run {program:?}")]
    Spawn {
        /// Which server.
        server: &'static str,
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The server's process ended while it was expected to run.
    #[error("{server} exited ({status}) before it was ready; its log ends with:\n{log_tail}")]
    Exited {
        /// Which server.
        server: &'static str,
        /// How it ended.
        status: ExitStatus,
        /// The end of its log.
        log_tail: String,
    },
    /// The server did not answer its readiness probe in time.
    #[error(
        "{server} did not answer on {addr} within {within:?} (last probe: {last_probe}); its log ends with:\n{log_tail}"
    )]
    NotReady {
        /// Which server.
        server: &'static str,
        /// Where it was probed.
        addr: std::net::SocketAddr,
        /// How long it was given.
        within: Duration,
        /// What the last probe saw.
        last_probe: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A signal could not be sent, or the process could not be waited for.
    #[error("{server}: cannot {what} process {pid}")]
    Signal {
        /// Which server.
        server: &'static str,
        /// What was being done, e.g. `send SIGTERM to`.
        what: String,
        /// The process id.
        pid: u32,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The server did not exit within its grace after a graceful stop; it
    /// was then killed.
    #[error(
        "{server} did not stop within {within:?} and was killed; its log ends with:\n{log_tail}"
    )]
    StopTimedOut {
        /// Which server.
        server: &'static str,
        /// The grace it was given.
        within: Duration,
        /// The end of its log.
        log_tail: String,
    },
    /// A method that needs a running server was called on a stopped one.
    #[error("{server} is not running")]
    NotRunning {
        /// Which server.
        server: &'static str,
    },
}
