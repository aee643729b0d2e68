//! nginx on loopback: it serves its body and echo endpoint, a request with
//! `Connection: close` (or its last allowed request) makes it close first
//! (TIME_WAIT on the server, per the kernel), it announces
//! `Keep-Alive: timeout=N` only when configured to, it serves TLS given a
//! certificate, and it serves new connections after a kill and a restart.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use timewait_servers::{NGINX_BODY, Nginx, NginxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response read off a connection: its head as text, and its body.
struct Response {
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `GET path` (with `Connection: close` if `close`) and reads exactly
/// one response, by its `Content-Length`.
async fn get(conn: &mut TcpStream, path: &str, close: bool) -> Response {
    let connection = if close { "Connection: close\r\n" } else { "" };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{connection}\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = conn.read(&mut chunk).await.unwrap();
        assert_ne!(n, 0, "EOF inside a response head: {bytes:?}");
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
    let mut response = Response {
        head,
        body: bytes[head_end..].to_vec(),
    };
    let len: usize = response.header("content-length").unwrap().parse().unwrap();
    let mut rest = vec![0u8; len - response.body.len()];
    conn.read_exact(&mut rest).await.unwrap();
    response.body.extend_from_slice(&rest);
    response
}

/// Reads until the server's FIN, expecting nothing more.
async fn read_fin(conn: &mut TcpStream) {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

async fn connect(nginx: &Nginx) -> TcpStream {
    TcpStream::connect(nginx.addr()).await.unwrap()
}

#[tokio::test]
async fn nginx_serves_its_body_and_echo_and_stops() {
    let mut nginx = Nginx::start(NginxConfig::default()).await.unwrap();
    let mut conn = connect(&nginx).await;
    let root = get(&mut conn, "/", false).await;
    assert!(root.head.starts_with("HTTP/1.1 200 "), "{}", root.head);
    assert_eq!(root.body, NGINX_BODY.as_bytes());
    let echo = get(&mut conn, "/echo?x=1", false).await;
    assert_eq!(echo.body, b"GET /echo?x=1\n");
    nginx.stop().await.unwrap();
    // The graceful stop closed the idle keep-alive connection.
    read_fin(&mut conn).await;
}

#[tokio::test]
async fn connection_close_makes_nginx_close_first_so_time_wait_is_the_servers() {
    let nginx = Nginx::start(NginxConfig::default()).await.unwrap();
    support::assert_farewells_leave_time_wait_on_the_server(nginx.addr(), async || {
        let mut conn = connect(&nginx).await;
        let response = get(&mut conn, "/", true).await;
        assert_eq!(response.header("connection"), Some("close"));
        // The server's FIN: only then does this side close.
        read_fin(&mut conn).await;
    })
    .await;
}

#[tokio::test]
async fn nginx_closes_first_after_its_last_keepalive_request() {
    let nginx = Nginx::start(NginxConfig::default().keepalive_requests(2))
        .await
        .unwrap();
    let mut conn = connect(&nginx).await;
    let first = get(&mut conn, "/", false).await;
    assert_eq!(first.header("connection"), Some("keep-alive"));
    let last = get(&mut conn, "/", false).await;
    assert_eq!(last.header("connection"), Some("close"));
    read_fin(&mut conn).await;
    drop(conn);
    support::assert_all_on_the_server(nginx.addr(), 1).await;
}

#[tokio::test]
async fn nginx_announces_keep_alive_timeout_only_with_the_header_parameter() {
    let idle = Duration::from_secs(5);
    let announcing =
        Nginx::start(NginxConfig::default().keepalive_timeout(idle, Some(Duration::from_secs(4))))
            .await
            .unwrap();
    let response = get(&mut connect(&announcing).await, "/", false).await;
    assert_eq!(
        response.header("keep-alive"),
        Some("timeout=4"),
        "{}",
        response.head
    );

    let silent = Nginx::start(NginxConfig::default().keepalive_timeout(idle, None))
        .await
        .unwrap();
    let response = get(&mut connect(&silent).await, "/", false).await;
    assert_eq!(response.header("keep-alive"), None, "{}", response.head);
}

#[tokio::test]
async fn nginx_closes_idle_connections_first_after_its_keepalive_timeout() {
    let config = NginxConfig::default().keepalive_timeout(Duration::from_millis(300), None);
    let nginx = Nginx::start(config).await.unwrap();
    let mut conn = connect(&nginx).await;
    get(&mut conn, "/", false).await;
    tokio::time::timeout(Duration::from_secs(10), read_fin(&mut conn))
        .await
        .unwrap();
    drop(conn);
    support::assert_all_on_the_server(nginx.addr(), 1).await;
}

#[tokio::test]
async fn nginx_killed_and_restarted_serves_new_connections_on_its_port() {
    let mut nginx = Nginx::start(NginxConfig::default()).await.unwrap();
    support::assert_serves_again_after_kill_and_restart(
        &mut nginx,
        async |nginx| {
            let mut conn = connect(nginx).await;
            let response = get(&mut conn, "/", false).await;
            assert_eq!(response.body, NGINX_BODY.as_bytes());
            conn
        },
        async |mut before| {
            let mut rest = Vec::new();
            // The kernel closed the killed server's end (a FIN, or a reset).
            let _ = before.read_to_end(&mut rest).await;
            assert!(rest.is_empty());
        },
    )
    .await;
}

#[tokio::test]
async fn nginx_serves_https_given_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl makes the test certificate: apt-get install openssl");
    assert!(made.success());
    let nginx = Nginx::start(NginxConfig::default().tls(&cert, &key))
        .await
        .unwrap();
    assert!(nginx.is_tls());
    // Plain HTTP on the TLS port: nginx says so, which shows it speaks TLS
    // there.
    let response = get(&mut connect(&nginx).await, "/", true).await;
    assert!(
        response.head.starts_with("HTTP/1.1 400 "),
        "{}",
        response.head
    );
    assert!(
        String::from_utf8_lossy(&response.body)
            .contains("plain HTTP request was sent to HTTPS port")
    );
    // Through TLS, the body.
    let addr = nginx.addr().to_string();
    let body = tokio::task::spawn_blocking(move || {
        let mut client = Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-connect",
                &addr,
                "-servername",
                "localhost",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        let mut stdin = client.stdin.take().unwrap();
        stdin
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = client.wait_with_output().unwrap();
        drop(stdin);
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.1 200 "), "{body}");
    assert!(body.ends_with(NGINX_BODY), "{body}");
}

#[tokio::test]
async fn nginx_answers_options_star_with_400_and_closes_first() {
    // What a pool would send to retire an idle connection when the server's
    // keep-alive timeout is unknown (HTTP.md): nginx refuses it, but still
    // closes first.
    let nginx = Nginx::start(NginxConfig::default()).await.unwrap();
    let mut conn = connect(&nginx).await;
    conn.write_all(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    drop(conn);
    support::assert_all_on_the_server(nginx.addr(), 1).await;
}
