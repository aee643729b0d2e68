//! What an [`Nginx`](super::Nginx) serves and how, and the `nginx.conf`
//! made from it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::supervisor::DEFAULT_READY_WITHIN;

/// The body of `GET /`.
pub const NGINX_BODY: &str = "hello from nginx\n";

/// How to run an [`Nginx`](super::Nginx): its keep-alive settings, and TLS.
///
/// It serves [`NGINX_BODY`] on `/`, and on `/echo...` a line with the
/// request's method and target (`GET /echo?x=1`).
#[derive(Debug, Clone)]
pub struct NginxConfig {
    pub(super) binary: Option<PathBuf>,
    keepalive_requests: u32,
    keepalive_timeout: Duration,
    keepalive_header: Option<Duration>,
    tls: Option<(PathBuf, PathBuf)>,
    pub(super) ready_within: Duration,
}

impl Default for NginxConfig {
    /// nginx's own defaults: 1000 requests and 75 s per connection, no
    /// `Keep-Alive` header; plain HTTP; 30 s to start.
    fn default() -> Self {
        Self {
            binary: None,
            keepalive_requests: 1000,
            keepalive_timeout: Duration::from_secs(75),
            keepalive_header: None,
            tls: None,
            ready_within: DEFAULT_READY_WITHIN,
        }
    }
}

impl NginxConfig {
    /// Runs this program instead of `nginx` from `PATH` or `/usr/sbin`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// `keepalive_requests`: after this many requests on a connection, nginx
    /// answers the last with `Connection: close` and closes it.
    pub fn keepalive_requests(mut self, requests: u32) -> Self {
        self.keepalive_requests = requests;
        self
    }

    /// `keepalive_timeout`: nginx closes a connection idle this long (zero
    /// disables keep-alive). With `header`, nginx also announces
    /// `Keep-Alive: timeout=<header in whole seconds>` on its responses.
    pub fn keepalive_timeout(mut self, idle: Duration, header: Option<Duration>) -> Self {
        self.keepalive_timeout = idle;
        self.keepalive_header = header;
        self
    }

    /// Serves HTTPS (HTTP/1.1 only) with this certificate chain and private
    /// key, both PEM files. The readiness probe then only connects.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Whether it serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// How long nginx may take to answer after a start.
    pub fn ready_within(mut self, within: Duration) -> Self {
        self.ready_within = within;
        self
    }

    /// The configuration file for a server on `addr` whose files are all in
    /// `dir`: one process in the foreground (a SIGKILL leaves no worker
    /// behind), its log on standard error.
    pub(super) fn render(&self, addr: SocketAddr, dir: &Path) -> String {
        let d = dir.display();
        let mut conf = String::new();
        let mut line = |s: String| {
            conf.push_str(&s);
            conf.push('\n');
        };
        line("daemon off;".into());
        line("master_process off;".into());
        line("worker_processes 1;".into());
        line(format!("pid {d}/nginx.pid;"));
        line("error_log stderr notice;".into());
        line("events { worker_connections 1024; }".into());
        line("http {".into());
        line(format!("    access_log {d}/access.log;"));
        for (directive, sub) in [
            ("client_body_temp_path", "client_body"),
            ("proxy_temp_path", "proxy"),
            ("fastcgi_temp_path", "fastcgi"),
            ("uwsgi_temp_path", "uwsgi"),
            ("scgi_temp_path", "scgi"),
        ] {
            line(format!("    {directive} {d}/{sub};"));
        }
        line("    default_type text/plain;".into());
        line(format!(
            "    keepalive_requests {};",
            self.keepalive_requests
        ));
        let mut timeout = format!(
            "    keepalive_timeout {}ms",
            self.keepalive_timeout.as_millis()
        );
        if let Some(header) = self.keepalive_header {
            // nginx takes the header's value in whole seconds only.
            let _ = write!(timeout, " {}s", header.as_secs());
        }
        line(format!("{timeout};"));
        line("    server {".into());
        match &self.tls {
            None => line(format!("        listen {addr};")),
            Some((cert, key)) => {
                line(format!("        listen {addr} ssl;"));
                line(format!("        ssl_certificate {};", cert.display()));
                line(format!("        ssl_certificate_key {};", key.display()));
                line("        ssl_protocols TLSv1.2 TLSv1.3;".into());
            }
        }
        line(format!(
            "        location = / {{ return 200 {:?}; }}",
            NGINX_BODY
        ));
        line(r#"        location /echo { return 200 "$request_method $request_uri\n"; }"#.into());
        line("    }".into());
        line("}".into());
        conf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_parameter_is_written_in_whole_seconds() {
        let conf = NginxConfig::default()
            .keepalive_timeout(Duration::from_millis(2500), Some(Duration::from_secs(2)))
            .render("127.0.0.1:8080".parse().unwrap(), Path::new("/tmp/x"));
        assert!(conf.contains("keepalive_timeout 2500ms 2s;"), "{conf}");
        assert!(conf.contains("listen 127.0.0.1:8080;"), "{conf}");
        assert!(conf.contains("pid /tmp/x/nginx.pid;"), "{conf}");
    }

    #[test]
    fn tls_listens_with_ssl() {
        let conf = NginxConfig::default()
            .tls("/c.pem", "/k.pem")
            .render("127.0.0.1:8443".parse().unwrap(), Path::new("/tmp/x"));
        assert!(conf.contains("listen 127.0.0.1:8443 ssl;"), "{conf}");
        assert!(conf.contains("ssl_certificate_key /k.pem;"), "{conf}");
    }
}
