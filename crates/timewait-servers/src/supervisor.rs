//! What the four servers share: a process started from a [`Launch`] on a
//! fixed loopback address, probed until ready, stopped, killed, restarted.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::ServerError;
use crate::process::Process;
use crate::ready::wait_ready;
use crate::workdir::Workdir;

/// How long a server may take to answer after it is started, unless its
/// configuration says otherwise: far more than any needs on an idle machine,
/// for a loaded CI machine.
pub(crate) const DEFAULT_READY_WITHIN: Duration = Duration::from_secs(30);
/// How long a graceful stop may take before the server is killed.
pub(crate) const STOP_WITHIN: Duration = Duration::from_secs(10);

/// The server's standard output and error, in its directory.
const LOG: &str = "server.log";
/// How many fresh ports [`Supervisor::start`] tries.
const PORT_ATTEMPTS: u32 = 3;
/// What each of the four servers logs when its port is taken (`EADDRINUSE`'s
/// text).
const ADDRESS_IN_USE: &str = "Address already in use";

/// How one kind of server is run and probed.
pub(crate) trait Launch {
    /// The server's name in messages: `redis`, `memcached`...
    const NAME: &'static str;
    /// The signal that stops it gracefully.
    const GRACEFUL: Signal;

    /// The command that runs it in the foreground on `addr`, with all its
    /// files in `dir`.
    fn command(&self, addr: SocketAddr, dir: &Workdir) -> Result<Command, ServerError>;

    /// Succeeds once the server at `addr` answers a request; leaves no
    /// TIME_WAIT on either side (see [`crate::probe`]).
    fn probe(&self, addr: SocketAddr) -> impl Future<Output = io::Result<()>>;
}

/// A server of kind `L`, running or not, on its address and in its
/// directory. Dropping it stops the server, then removes the directory.
#[derive(Debug)]
pub(crate) struct Supervisor<L> {
    // Declared first, dropped first: the server stops before its directory
    // goes.
    process: Option<Process>,
    launch: L,
    addr: SocketAddr,
    ready_within: Duration,
    last_start: Duration,
    dir: Workdir,
}

impl<L: Launch> Supervisor<L> {
    /// Starts the server on a fresh loopback port and waits until it
    /// answers, up to `ready_within`.
    ///
    /// The port is free when chosen, but another socket may take it before
    /// the server binds it: a server that exits because its address is in
    /// use is started again on another port, up to [`PORT_ATTEMPTS`] times.
    pub(crate) async fn start(
        launch: L,
        dir: Workdir,
        ready_within: Duration,
    ) -> Result<Self, ServerError> {
        let mut this = Self {
            process: None,
            launch,
            addr: crate::workdir::fresh_addr(L::NAME).await?,
            ready_within,
            last_start: Duration::ZERO,
            dir,
        };
        let mut attempt = 1;
        loop {
            match this.run().await {
                Ok(()) => return Ok(this),
                Err(ServerError::Exited { log_tail, .. })
                    if attempt < PORT_ATTEMPTS && log_tail.contains(ADDRESS_IN_USE) =>
                {
                    tracing::debug!(server = L::NAME, addr = %this.addr, "port taken; trying another");
                    this.process = None;
                    this.addr = crate::workdir::fresh_addr(L::NAME).await?;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the process again on the same address and waits until it
    /// answers.
    async fn run(&mut self) -> Result<(), ServerError> {
        let started = Instant::now();
        let log = self.dir.join(LOG);
        let command = self.launch.command(self.addr, &self.dir)?;
        let process = self
            .process
            .insert(Process::spawn(L::NAME, command, &log, L::GRACEFUL)?);
        let launch = &self.launch;
        wait_ready(L::NAME, process, self.addr, self.ready_within, |addr| {
            launch.probe(addr)
        })
        .await?;
        self.last_start = started.elapsed();
        tracing::debug!(server = L::NAME, addr = %self.addr, took = ?self.last_start, "ready");
        Ok(())
    }

    /// The loopback address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's directory.
    pub(crate) fn dir(&self) -> &Workdir {
        &self.dir
    }

    /// The end of the server's log (its standard output and error).
    pub(crate) fn log_tail(&self) -> String {
        crate::process::log_tail(&self.dir.join(LOG))
    }

    /// The launch settings.
    pub(crate) fn launch(&self) -> &L {
        &self.launch
    }

    /// How long the last start took, from spawning the process to the first
    /// answer.
    pub(crate) fn last_start(&self) -> Duration {
        self.last_start
    }

    /// Stops the server gracefully (see [`Launch::GRACEFUL`]), killing it
    /// after [`STOP_WITHIN`].
    pub(crate) async fn stop(&mut self) -> Result<(), ServerError> {
        let mut process = self
            .process
            .take()
            .ok_or(ServerError::NotRunning { server: L::NAME })?;
        process.stop(STOP_WITHIN).await
    }

    /// Kills the server's process group with SIGKILL.
    pub(crate) fn kill(&mut self) -> Result<(), ServerError> {
        let mut process = self
            .process
            .take()
            .ok_or(ServerError::NotRunning { server: L::NAME })?;
        process.kill()
    }

    /// Stops the server if it runs, then starts it again on the same port.
    pub(crate) async fn restart(&mut self) -> Result<(), ServerError> {
        if let Some(mut process) = self.process.take() {
            if matches!(process.exited(), Ok(None)) {
                process.stop(STOP_WITHIN).await?;
            }
        }
        self.run().await
    }
}

/// The lifecycle methods every server has, each handed to the server's
/// `inner` [`Supervisor`]: `log_tail`, `addr`, `dir`, `last_start`, `stop`,
/// `kill` and `restart`. The server gives the doc comments of those whose
/// words are its own (what its directory holds, what answers its probe, its
/// graceful signal).
macro_rules! supervised {
    (
        $server:ident;
        $(#[$dir:meta])* fn dir;
        $(#[$last_start:meta])* fn last_start;
        $(#[$stop:meta])* fn stop;
        $(#[$kill:meta])* fn kill;
        $(#[$restart:meta])* fn restart;
    ) => {
        impl $server {
            /// The end of its log (`server.log` in its directory: what it
            /// wrote to its standard output and error), for a failing test to
            /// show.
            pub fn log_tail(&self) -> String {
                self.inner.log_tail()
            }

            /// The address it listens on.
            pub fn addr(&self) -> std::net::SocketAddr {
                self.inner.addr()
            }

            $(#[$dir])*
            pub fn dir(&self) -> &std::path::Path {
                self.inner.dir().path()
            }

            $(#[$last_start])*
            pub fn last_start(&self) -> std::time::Duration {
                self.inner.last_start()
            }

            $(#[$stop])*
            pub async fn stop(&mut self) -> Result<(), $crate::ServerError> {
                self.inner.stop().await
            }

            $(#[$kill])*
            pub fn kill(&mut self) -> Result<(), $crate::ServerError> {
                self.inner.kill()
            }

            $(#[$restart])*
            pub async fn restart(&mut self) -> Result<(), $crate::ServerError> {
                self.inner.restart().await
            }
        }
    };
}
pub(crate) use supervised;
