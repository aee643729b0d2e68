//! The throwaway cluster: who runs PostgreSQL's programs, how they are
//! started, and `initdb`.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use super::{DATA, NAME, POSTGRES_USER};
use crate::ServerError;
use crate::workdir::Workdir;

/// The system user the server runs as when this process is root (PostgreSQL
/// refuses to run as root).
pub(super) const SYSTEM_USER: &str = "postgres";

/// Whom to run `initdb` and `postgres` as: the `postgres` user when this
/// process is root, else (`None`) this process's user.
pub(super) fn run_as() -> Result<Option<(Uid, Gid)>, ServerError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(SYSTEM_USER) {
        Ok(Some(user)) => Ok(Some((user.uid, user.gid))),
        Ok(None) => Err(ServerError::MissingUser {
            user: SYSTEM_USER,
            package: "postgresql",
        }),
        Err(errno) => Err(setup(format!("look up user {SYSTEM_USER}"), errno.into())),
    }
}

/// `command` set to run from `dir` in the C locale, as `run_as` if given:
/// the user is switched by this process before the program is executed (no
/// `runuser` in between), so signals reach the program directly.
pub(super) fn pg_command(
    mut command: Command,
    dir: &Workdir,
    run_as: Option<(Uid, Gid)>,
) -> Command {
    command
        .current_dir(dir.path())
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("PGHOST");
    if let Some((uid, gid)) = run_as {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    command
}

/// Runs `initdb` for a cluster in `dir/data` with `trust` authentication.
pub(super) async fn init_cluster(
    initdb: &Path,
    dir: &Workdir,
    run_as: Option<(Uid, Gid)>,
) -> Result<(), ServerError> {
    let mut command = pg_command(Command::new(initdb), dir, run_as);
    command
        .arg("-D")
        .arg(dir.join(DATA))
        .args(["-U", POSTGRES_USER])
        .args(["-A", "trust"])
        .args(["-E", "UTF8"])
        .args(["--locale", "C"])
        .arg("--no-sync")
        .arg("--no-instructions");
    tracing::debug!(?command, "initdb");
    let program = initdb.to_owned();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|join| setup("run initdb".into(), io::Error::other(join)))?
        .map_err(|source| ServerError::Spawn {
            server: NAME,
            program: program.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    Err(ServerError::Prepare {
        server: NAME,
        program,
        status: output.status,
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

pub(super) fn setup(what: String, source: io::Error) -> ServerError {
    ServerError::Setup {
        server: NAME,
        what,
        source,
    }
}
