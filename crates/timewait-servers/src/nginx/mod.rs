//! nginx on loopback, from a configuration generated in its own temporary
//! directory.

mod config;

use std::io;
use std::net::SocketAddr;
use std::process::Command;

use nix::sys::signal::Signal;

pub use config::{NGINX_BODY, NginxConfig};

use crate::ServerError;
use crate::probe::Probe;
use crate::supervisor::{Launch, Supervisor, supervised};
use crate::workdir::Workdir;

/// nginx serving [`NGINX_BODY`] on `127.0.0.1` and a fresh port, configured
/// by [`NginxConfig`]; its configuration, pid file, logs and temporary
/// files all in a temporary directory of its own; stopped on drop.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use timewait_servers::{Nginx, NginxConfig};
/// let config = NginxConfig::default()
///     .keepalive_requests(100)
///     .keepalive_timeout(Duration::from_secs(5), Some(Duration::from_secs(4)));
/// let nginx = Nginx::start(config).await?;
/// let conn = tokio::net::TcpStream::connect(nginx.addr()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Nginx {
    inner: Supervisor<NginxLaunch>,
}

#[derive(Debug)]
struct NginxLaunch {
    binary: std::path::PathBuf,
    config: NginxConfig,
}

impl Nginx {
    /// Writes its configuration, starts nginx and waits until `GET /`
    /// answers 200 (with TLS, until it accepts a connection).
    ///
    /// Errors: [`ServerError::MissingBinary`] if nginx is not installed,
    /// [`ServerError::Exited`] (with its log: a bad certificate ends up
    /// there) or [`ServerError::NotReady`] if it does not come up.
    pub async fn start(config: NginxConfig) -> Result<Self, ServerError> {
        let binary = crate::binary::find("nginx", "nginx", config.binary.as_deref())?;
        let dir = Workdir::new(NginxLaunch::NAME)?;
        let ready_within = config.ready_within;
        let launch = NginxLaunch { binary, config };
        Ok(Self {
            inner: Supervisor::start(launch, dir, ready_within).await?,
        })
    }

    /// Whether it serves TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.launch().config.is_tls()
    }
}

supervised! {
    Nginx;
    /// Its temporary directory (`nginx.conf`, `server.log`, `access.log`).
    fn dir;
    /// How long the last start or restart took until it answered.
    fn last_start;
    /// Stops it with SIGQUIT (nginx's graceful shutdown: idle connections
    /// are closed, requests in flight finish) and waits for it to exit.
    fn stop;
    /// Kills it with SIGKILL, at once.
    fn kill;
    /// Starts it again on the same port (stopping it first if it runs).
    fn restart;
}

impl Launch for NginxLaunch {
    const NAME: &'static str = "nginx";
    const GRACEFUL: Signal = Signal::SIGQUIT;

    fn command(&self, addr: SocketAddr, dir: &Workdir) -> Result<Command, ServerError> {
        // Written at each start: a restart finds the file as it was.
        let conf = dir.write(
            Self::NAME,
            "nginx.conf",
            &self.config.render(addr, dir.path()),
        )?;
        let mut command = crate::process::server_command(&self.binary);
        command
            .current_dir(dir.path())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            // The log before the configuration is read, too.
            .args(["-e", "stderr"]);
        Ok(command)
    }

    async fn probe(&self, addr: SocketAddr) -> io::Result<()> {
        let mut probe = Probe::connect(addr).await?;
        probe
            .send_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let response = probe.close_after_server().await?;
        // A TLS server answers plain HTTP with its own error page: that
        // answer, not a mere accept, shows that this nginx listens (an
        // accept alone could come from any socket on the port).
        let answered = if self.config.is_tls() {
            response.starts_with(b"HTTP/1.1 400 ") && says_plain_to_tls(&response)
        } else {
            response.starts_with(b"HTTP/1.1 200 ")
        };
        if answered {
            Ok(())
        } else {
            let head = String::from_utf8_lossy(&response[..response.len().min(80)]).into_owned();
            Err(io::Error::other(format!("GET / answered {head:?}")))
        }
    }
}

/// Whether `response` is nginx's answer to plain HTTP on a TLS port.
fn says_plain_to_tls(response: &[u8]) -> bool {
    const MARK: &[u8] = b"plain HTTP request was sent to HTTPS port";
    response.windows(MARK.len()).any(|w| w == MARK)
}
