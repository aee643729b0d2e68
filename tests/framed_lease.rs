//! The framed lease on real loopback sockets: a connection goes back to the
//! pool only when the responses owed were decoded and no byte is left in its
//! buffers; everything else retires it, and no borrower reads a byte of
//! another's exchange.
#![cfg(all(target_os = "linux", feature = "codec"))]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod reliability;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reliability::quit_echo_server;
use timewait::pool::framed::{FramedError, FramedLease, Release, Unfinished};
use timewait::pool::{Pool, TcpConnector};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{LinesCodec, LinesCodecError};

type TcpPool = Pool<SocketAddr, TcpConnector, TcpStream>;

fn pool() -> TcpPool {
    reliability::quit_pool_builder().build().unwrap()
}

/// A lease of `pool` toward `server`, framed in lines.
async fn lines(
    pool: &TcpPool,
    server: SocketAddr,
) -> FramedLease<SocketAddr, TcpStream, LinesCodec> {
    pool.get(server).await.unwrap().framed(LinesCodec::new())
}

/// A server that answers every line it reads with `answer`, written at once.
async fn scripted_server(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = conn.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(_)) = lines.next_line().await {
                    if answer.is_empty() || write.write_all(answer).await.is_err() {
                        continue;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_call_then_release_returns_the_connection_and_the_next_lease_reuses_it() {
    let server = quit_echo_server().await;
    let pool = pool();
    for i in 0..20 {
        let mut conn = lines(&pool, server.local_addr()).await;
        assert_eq!(conn.lease().is_reused(), i > 0);
        assert_eq!(
            conn.call(format!("request {i}")).await.unwrap(),
            format!("request {i}")
        );
        assert_eq!(conn.owed(), 0);
        assert_eq!(conn.release(), Release::Returned);
    }
    let activity = pool.stats().total.activity;
    assert_eq!((activity.connects, activity.reuses), (1, 19));
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_the_stream_ends_when_none_is_owed() {
    let server = quit_echo_server().await;
    let pool = pool();
    let mut conn = lines(&pool, server.local_addr()).await;
    for i in 0..10 {
        conn.feed(format!("line {i}")).await.unwrap();
    }
    conn.flush().await.unwrap();
    assert_eq!(conn.owed(), 10);
    let answers: Vec<String> = (&mut conn).map(Result::unwrap).collect().await;
    let asked: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
    assert_eq!(answers, asked);
    assert!(conn.next().await.is_none(), "nothing more is owed");
    assert!(matches!(
        conn.receive().await,
        Err(FramedError::NothingOwed)
    ));
    assert!(conn.release().is_returned());
    assert!(pool.get(server.local_addr()).await.unwrap().is_reused());
}

#[tokio::test]
async fn as_a_sink_and_a_stream_it_works_like_framed_and_closing_the_sink_keeps_the_connection() {
    let server = quit_echo_server().await;
    let pool = pool();
    let mut conn = lines(&pool, server.local_addr()).await;
    SinkExt::<&str>::send(&mut conn, "one").await.unwrap();
    SinkExt::<&str>::close(&mut conn).await.unwrap();
    assert_eq!(conn.next().await.unwrap().unwrap(), "one");
    assert!(conn.release().is_returned());
    let mut again = lines(&pool, server.local_addr()).await;
    assert!(
        again.lease().is_reused(),
        "closing the sink closed the connection"
    );
    assert_eq!(again.call("two").await.unwrap(), "two");
    again.release();
}

#[tokio::test]
async fn a_release_with_a_response_owed_retires_the_connection() {
    let server = quit_echo_server().await;
    let pool = pool();
    let mut conn = lines(&pool, server.local_addr()).await;
    conn.send("unread").await.unwrap();
    assert_eq!(
        conn.release(),
        Release::Retired(Unfinished::ResponsesOwed(1))
    );
    let mut next = lines(&pool, server.local_addr()).await;
    assert!(
        !next.lease().is_reused(),
        "a connection with an answer on its way was lent"
    );
    assert_eq!(next.call("mine").await.unwrap(), "mine");
    next.release();
    assert_eq!(pool.stats().total.activity.reasons.unreleased, 1);
}

#[tokio::test]
async fn bytes_left_in_the_read_buffer_retire_the_connection_with_the_buffer() {
    // Two lines in one write for one request: the second is read with the
    // first, and must not reach the next borrower.
    let server = scripted_server(b"mine\nstray\n").await;
    let pool = pool();
    let mut conn = lines(&pool, server).await;
    assert_eq!(conn.call("ask").await.unwrap(), "mine");
    assert_eq!(conn.unread_bytes(), "stray\n".len());
    assert_eq!(conn.release(), Release::Retired(Unfinished::BytesUnread(6)));
    let next = pool.get(server).await.unwrap();
    assert!(!next.is_reused());
}

#[tokio::test]
async fn a_decoding_error_marks_the_connection_broken_and_the_lease_unusable() {
    let server = scripted_server(b"a line far longer than the codec allows\n").await;
    let pool = pool();
    let mut conn = pool
        .get(server)
        .await
        .unwrap()
        .framed(LinesCodec::new_with_max_length(8));
    let error = conn.call("ask").await.unwrap_err();
    assert!(
        matches!(error.codec(), Some(LinesCodecError::MaxLineLengthExceeded)),
        "{error:?}"
    );
    assert!(conn.lease().is_broken());
    assert!(matches!(
        conn.call("again").await,
        Err(FramedError::Unusable)
    ));
    assert_eq!(conn.release(), Release::Retired(Unfinished::Failed));
    assert_eq!(pool.stats().total.activity.reasons.broken, 1);
}

#[tokio::test]
async fn a_receive_cancelled_by_a_timeout_never_hands_its_answer_to_the_next_borrower() {
    let server = scripted_server(b"").await; // never answers
    let pool = pool();
    let mut conn = lines(&pool, server).await;
    conn.send("ask").await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(20), conn.receive()).await;
    assert!(waited.is_err());
    drop(conn);
    assert!(!pool.get(server).await.unwrap().is_reused());
}

#[tokio::test]
async fn a_peer_that_closes_with_a_response_owed_is_a_closed_error() {
    let server = quit_echo_server().await;
    let pool = pool();
    let mut conn = lines(&pool, server.local_addr()).await;
    // The echo server closes on QUIT without an answer.
    conn.send("QUIT").await.unwrap();
    assert!(matches!(
        conn.receive().await,
        Err(FramedError::Closed { owed: 1 })
    ));
    assert!(!conn.release().is_returned());
    // Counted as closed by the peer: its FIN came first, no TIME_WAIT here.
    let activity = pool.stats().total.activity;
    assert_eq!(activity.retired.by_peer, 1, "{activity:?}");
}

#[tokio::test]
async fn a_response_of_several_frames_ends_at_its_boundary() {
    let server = scripted_server(b"row 1\nrow 2\nEND\n").await;
    let pool = pool();
    let mut conn = pool
        .get(server)
        .await
        .unwrap()
        .framed(LinesCodec::new())
        .with_boundary(|line: &String| line == "END");
    conn.send("list").await.unwrap();
    assert_eq!(conn.response().await.unwrap(), ["row 1", "row 2", "END"]);
    assert!(conn.release().is_returned());
}

#[tokio::test]
async fn detach_hands_over_the_codec_and_its_buffers() {
    let server = scripted_server(b"mine\nstray\n").await;
    let pool = pool();
    let mut conn = lines(&pool, server).await;
    assert_eq!(conn.call("ask").await.unwrap(), "mine");
    let mut framed = conn.detach::<String>();
    assert_eq!(framed.next().await.unwrap().unwrap(), "stray");
    assert_eq!(pool.stats().total.activity.detached, 1);
}
