//! One server process: spawned in its own process group with its output in
//! a log file, stopped by a signal within a grace, killed with its whole
//! group, never left behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::ServerError;

/// How often a stopping process is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(10);
/// How much of the log an error shows.
const LOG_TAIL_BYTES: u64 = 2048;
/// How long a dropped server gets to stop gracefully before it is killed.
const DROP_GRACE: Duration = Duration::from_secs(5);
/// How long [`Process::kill`] waits for the descendants to go.
const GROUP_GONE_WITHIN: Duration = Duration::from_secs(2);

/// Where util-linux (essential in Debian) puts `setpriv`.
const SETPRIV: &str = "/usr/bin/setpriv";

/// A command that runs `program` as a server: through `setpriv
/// --pdeathsig KILL` where it exists, so the server is killed when the
/// thread that started it exits, even when the test process is killed or
/// interrupted before it can stop its servers (they are in process groups
/// of their own, so a Ctrl-C at the terminal does not reach them).
/// `setpriv` executes the server in its place: the pid is the server's.
///
/// The kernel sends the signal when the starting *thread* ends: a server
/// must be started from a thread that outlives it (a test's own thread, as
/// `#[tokio::test]` runs it, or a runtime's worker).
pub(crate) fn server_command(program: &Path) -> Command {
    if Path::new(SETPRIV).is_file() {
        let mut command = Command::new(SETPRIV);
        command.args(["--pdeathsig", "KILL", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A running server process, the leader of its own process group.
#[derive(Debug)]
pub(crate) struct Process {
    server: &'static str,
    child: Option<Child>,
    log: PathBuf,
    graceful: Signal,
}

impl Process {
    /// Runs `command` in a new process group, its standard output and error
    /// appended to `log`. `graceful` is the signal that asks it to stop.
    pub(crate) fn spawn(
        server: &'static str,
        mut command: Command,
        log: &Path,
        graceful: Signal,
    ) -> Result<Self, ServerError> {
        let setup = |what: &str, source| ServerError::Setup {
            server,
            what: format!("{what} {}", log.display()),
            source,
        };
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| setup("open the log", e))?;
        let err = out.try_clone().map_err(|e| setup("share the log", e))?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        tracing::debug!(server, ?command, "starting");
        let child = command.spawn().map_err(|source| ServerError::Spawn {
            server,
            program: PathBuf::from(command.get_program()),
            source,
        })?;
        Ok(Self {
            server,
            child: Some(child),
            log: log.to_owned(),
            graceful,
        })
    }

    /// The end of the server's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// How the process ended, if it has; `None` while it runs.
    pub(crate) fn exited(&mut self) -> Result<Option<ExitStatus>, ServerError> {
        let server = self.server;
        let Some(child) = self.child.as_mut() else {
            return Err(ServerError::NotRunning { server });
        };
        let pid = child.id();
        child.try_wait().map_err(|source| ServerError::Signal {
            server,
            what: "wait for".into(),
            pid,
            source,
        })
    }

    /// Asks the process to stop with its graceful signal and waits up to
    /// `grace` for it to exit; past that, kills its group and reports
    /// [`ServerError::StopTimedOut`].
    pub(crate) async fn stop(&mut self, grace: Duration) -> Result<(), ServerError> {
        let pid = self.pid()?;
        if self.exited()?.is_some() {
            self.child = None;
            return Ok(());
        }
        self.signal(pid, self.graceful)?;
        let deadline = Instant::now() + grace;
        loop {
            if self.exited()?.is_some() {
                self.child = None;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log_tail = self.log_tail();
                self.kill()?;
                return Err(ServerError::StopTimedOut {
                    server: self.server,
                    within: grace,
                    log_tail,
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Kills the process, its group and every descendant with SIGKILL,
    /// reaps it and waits briefly until the descendants are gone.
    ///
    /// The process is stopped (SIGSTOP) first so it forks no new child
    /// while its descendants are listed; then the descendants are killed,
    /// then its group. PostgreSQL's backends lead sessions of their own, so
    /// the group alone would miss them, and a backend outliving its
    /// postmaster keeps the cluster's shared memory attached, which stops a
    /// restart.
    pub(crate) fn kill(&mut self) -> Result<(), ServerError> {
        let server = self.server;
        let Some(mut child) = self.child.take() else {
            return Err(ServerError::NotRunning { server });
        };
        let pid = child.id();
        if let Ok(Some(_)) = child.try_wait() {
            // Reaped: its pid may be another process's by now.
            return Ok(());
        }
        let leader = pid_of(pid);
        // Failures here mean the process is gone already; the killpg below
        // and the wait report what matters.
        let _ = signal::kill(leader, Signal::SIGSTOP);
        let descendants = crate::tree::descendants(leader.as_raw());
        for &descendant in &descendants {
            let _ = signal::kill(Pid::from_raw(descendant), Signal::SIGKILL);
        }
        if let Err(errno) = signal::killpg(leader, Signal::SIGKILL) {
            // ESRCH: the group is already gone.
            if errno != Errno::ESRCH {
                return Err(signal_error(
                    server,
                    "send SIGKILL to the group of",
                    pid,
                    errno,
                ));
            }
        }
        child.wait().map_err(|source| ServerError::Signal {
            server,
            what: "wait for".into(),
            pid,
            source,
        })?;
        let deadline = Instant::now() + GROUP_GONE_WITHIN;
        while !descendants.iter().all(|&d| crate::tree::is_gone(d)) && Instant::now() < deadline {
            std::thread::sleep(POLL_EVERY);
        }
        Ok(())
    }

    fn pid(&self) -> Result<u32, ServerError> {
        self.child
            .as_ref()
            .map(Child::id)
            .ok_or(ServerError::NotRunning {
                server: self.server,
            })
    }

    fn signal(&self, pid: u32, sig: Signal) -> Result<(), ServerError> {
        signal::kill(pid_of(pid), sig)
            .map_err(|errno| signal_error(self.server, &format!("send {sig} to"), pid, errno))
    }
}

impl Drop for Process {
    /// Stops the server gracefully, or kills its group after
    /// [`DROP_GRACE`]. Blocks the thread meanwhile: a server is dropped at
    /// the end of a test, where that is what the test wants.
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let pid = child.id();
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        if signal::kill(pid_of(pid), self.graceful).is_ok() {
            let deadline = Instant::now() + DROP_GRACE;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(None) => std::thread::sleep(POLL_EVERY),
                    _ => return,
                }
            }
        }
        if let Err(e) = self.kill() {
            tracing::warn!(server = self.server, pid, error = %e, "could not kill on drop");
        }
    }
}

/// The last [`LOG_TAIL_BYTES`] of `path`, from a line start, or why it
/// could not be read.
pub(crate) fn log_tail(path: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(LOG_TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(match (start > 0, text.find('\n')) {
            (true, Some(newline)) => text[newline + 1..].to_owned(),
            _ => text,
        })
    };
    match read() {
        Ok(text) if text.trim().is_empty() => format!("({} is empty)", path.display()),
        Ok(text) => text,
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn pid_of(pid: u32) -> Pid {
    // A child's pid always fits: the kernel's pid_max is at most 2^22.
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

fn signal_error(server: &'static str, what: &str, pid: u32, errno: Errno) -> ServerError {
    ServerError::Signal {
        server,
        what: what.to_owned(),
        pid,
        source: io::Error::from(errno),
    }
}
