//! A server's own temporary directory, and a fresh loopback port for it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::ServerError;

/// A temporary directory that holds everything one server instance writes:
/// its configuration, data, log, pid and socket files. Removed on drop.
#[derive(Debug)]
pub(crate) struct Workdir {
    dir: TempDir,
}

impl Workdir {
    /// A new empty directory under the system's temporary directory, named
    /// after `server`.
    pub(crate) fn new(server: &'static str) -> Result<Self, ServerError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("timewait-{server}-"))
            .tempdir()
            .map_err(|source| ServerError::Setup {
                server,
                what: "create a temporary directory".into(),
                source,
            })?;
        Ok(Self { dir })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the directory.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` inside the directory.
    pub(crate) fn write(
        &self,
        server: &'static str,
        name: &str,
        contents: &str,
    ) -> Result<PathBuf, ServerError> {
        let path = self.join(name);
        std::fs::write(&path, contents).map_err(|source| ServerError::Setup {
            server,
            what: format!("write {}", path.display()),
            source,
        })?;
        Ok(path)
    }
}

/// A loopback address whose port no socket in this network namespace
/// mentions (see [`timewait_echo::fresh_listener`]), so that counting
/// TIME_WAIT by the port counts only this server's connections.
///
/// The listener that found the port is closed before the server binds it;
/// every server here binds with `SO_REUSEADDR`, and nothing else on a test
/// machine binds loopback ports it did not ask the kernel for.
pub(crate) async fn fresh_addr(server: &'static str) -> Result<SocketAddr, ServerError> {
    let setup = |source: io::Error| ServerError::Setup {
        server,
        what: "find a fresh loopback port".into(),
        source,
    };
    let listener = timewait_echo::fresh_listener(Ipv4Addr::LOCALHOST.into())
        .await
        .map_err(setup)?;
    listener.local_addr().map_err(setup)
}
