//! The echo server on real loopback sockets: it echoes, it closes first on
//! `QUIT`, on its idle timeout and on hang-up, and the kernel's census puts
//! TIME_WAIT on the side that closed first.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use timewait_echo::{
    EchoHandle, EchoServer, Ending, OnQuit, QUIT, TimeWaitSides, connect_and_exchange, exchange,
    fresh_listener, quit_and_wait_for_close, settled_time_wait,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds only a failure reaches.
const SETTLE: Duration = Duration::from_secs(10);
const ENDS_WITHIN: Duration = Duration::from_secs(10);

async fn server(configure: impl FnOnce(EchoServer) -> EchoServer) -> EchoHandle {
    let listener = fresh_listener("127.0.0.1".parse().unwrap()).await.unwrap();
    configure(EchoServer::new(listener)).spawn()
}

async fn wait_ended(server: &EchoHandle, n: u64) {
    tokio::time::timeout(ENDS_WITHIN, server.ended(n))
        .await
        .unwrap_or_else(|_| panic!("{n} connections did not end: {:?}", server.stats()));
}

async fn sides(server: SocketAddr) -> TimeWaitSides {
    settled_time_wait(server, SETTLE).await.unwrap()
}

#[tokio::test]
async fn quit_makes_the_server_close_first_so_time_wait_is_the_servers() {
    let server = server(|s| s).await;
    let addr = server.local_addr();
    for i in 0..5 {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let mut reply = Vec::new();
        exchange(&mut conn, format!("line {i}\n").as_bytes(), &mut reply)
            .await
            .unwrap();
        assert_eq!(quit_and_wait_for_close(&mut conn).await.unwrap(), 0);
    }
    wait_ended(&server, 5).await;
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.lines, stats.quit), (5, 5, 5));
    assert_eq!(stats.closed_first_by_server(), 5);
    assert_eq!(
        sides(addr).await,
        TimeWaitSides {
            server: 5,
            client: 0
        }
    );
}

#[tokio::test]
async fn a_client_that_closes_first_keeps_the_time_wait() {
    let server = server(|s| s).await;
    let addr = server.local_addr();
    let mut reply = Vec::new();
    for _ in 0..5 {
        connect_and_exchange(addr, b"hello\n", &mut reply)
            .await
            .unwrap();
        assert_eq!(reply, b"hello\n");
    }
    wait_ended(&server, 5).await;
    assert_eq!(server.stats().client_closed, 5);
    assert_eq!(
        sides(addr).await,
        TimeWaitSides {
            server: 0,
            client: 5
        }
    );
}

// Paused time on real sockets: the clock jumps only when the runtime is idle,
// which here means both ends are waiting for the idle timer.
#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_by_the_server_at_its_idle_timeout() {
    let server = server(|s| s.idle_timeout(Some(Duration::from_secs(30)))).await;
    let mut conn = TcpStream::connect(server.local_addr()).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(conn.read(&mut buf).await.unwrap(), 0, "the server's FIN");
    assert!(start.elapsed() >= Duration::from_secs(30));
    wait_ended(&server, 1).await;
    assert_eq!(server.stats().idle_timeout, 1);
}

#[tokio::test]
async fn a_server_that_ignores_quit_keeps_echoing_until_it_hangs_up() {
    let server = server(|s| s.on_quit(OnQuit::Ignore)).await;
    let mut conn = TcpStream::connect(server.local_addr()).await.unwrap();
    conn.write_all(QUIT).await.unwrap();
    let mut reply = Vec::new();
    exchange(&mut conn, b"still here\n", &mut reply)
        .await
        .unwrap();
    server.hang_up();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing was echoed for QUIT");
    wait_ended(&server, 1).await;
    let stats = server.stats();
    assert_eq!((stats.quit, stats.hung_up, stats.lines), (0, 1, 1));
}

#[tokio::test]
async fn hang_up_closes_only_connections_open_when_it_was_asked() {
    let server = server(|s| s).await;
    let mut before = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut reply = Vec::new();
    exchange(&mut before, b"a\n", &mut reply).await.unwrap();
    server.hang_up();
    wait_ended(&server, 1).await;
    let mut after = TcpStream::connect(server.local_addr()).await.unwrap();
    exchange(&mut after, b"b\n", &mut reply).await.unwrap();
    assert_eq!(server.stats().hung_up, 1);
    let end = exchange(&mut before, b"c\n", &mut reply).await.unwrap_err();
    assert!(
        matches!(
            end.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
        ),
        "{end:?}"
    );
}

#[tokio::test]
async fn a_line_past_the_limit_ends_the_connection_as_invalid_data() {
    let server = server(|s| s).await;
    let mut conn = TcpStream::connect(server.local_addr()).await.unwrap();
    let long = vec![b'x'; timewait_echo::MAX_LINE + 10];
    // The server may close before it has read everything: a reset is fine.
    let _ = conn.write_all(&long).await;
    wait_ended(&server, 1).await;
    assert_eq!(server.stats().failed, 1);
    let ending = Ending::Failed(io::ErrorKind::InvalidData);
    assert!(!ending.server_closed_first());
}

#[tokio::test]
async fn shutdown_closes_open_connections_server_first_and_reports_them() {
    let server = server(|s| s).await;
    let addr = server.local_addr();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let mut reply = Vec::new();
        exchange(&mut conn, b"x\n", &mut reply).await.unwrap();
        conns.push(conn);
    }
    let stats = server.shutdown().await;
    assert_eq!((stats.accepted, stats.hung_up, stats.open()), (3, 3, 0));
    for conn in &mut conns {
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await.unwrap();
    }
    drop(conns);
    assert_eq!(
        sides(addr).await,
        TimeWaitSides {
            server: 3,
            client: 0
        }
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn an_echo_that_stops_short_is_an_unexpected_eof() {
    let server = server(|s| s).await;
    let mut conn = TcpStream::connect(server.local_addr()).await.unwrap();
    conn.write_all(QUIT).await.unwrap();
    let mut reply = Vec::new();
    let error = exchange(&mut conn, b"too late\n", &mut reply)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ),
        "{error:?}"
    );
}
