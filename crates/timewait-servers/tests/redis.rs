//! redis-server on loopback: it answers through the RESP codec, `QUIT`
//! makes it close first (TIME_WAIT on the server, per the kernel), and it
//! serves new connections after a kill and a restart.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use timewait_servers::codec::{Resp, RespCommand, RespValue};
use timewait_servers::{Redis, RedisConfig};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

async fn connect(redis: &Redis) -> Framed<TcpStream, Resp> {
    Framed::new(
        TcpStream::connect(redis.addr()).await.unwrap(),
        Resp::default(),
    )
}

async fn ask(conn: &mut Framed<TcpStream, Resp>, args: &[&str]) -> RespValue {
    conn.send(RespCommand::new(args)).await.unwrap();
    conn.next().await.unwrap().unwrap()
}

fn simple(s: &str) -> RespValue {
    RespValue::Simple(s.as_bytes().to_vec().into())
}

#[tokio::test]
async fn redis_starts_answers_through_the_codec_and_stops() {
    let mut redis = Redis::start(RedisConfig::default()).await.unwrap();
    let mut conn = connect(&redis).await;
    assert_eq!(ask(&mut conn, &["SET", "k", "v"]).await, simple("OK"));
    assert_eq!(
        ask(&mut conn, &["GET", "k"]).await,
        RespValue::Bulk(Some("v".into()))
    );
    assert_eq!(
        ask(&mut conn, &["GET", "nothing"]).await,
        RespValue::Bulk(None)
    );
    let RespValue::Error(_) = ask(&mut conn, &["NOSUCHCOMMAND"]).await else {
        panic!("an unknown command is an error reply");
    };
    redis.stop().await.unwrap();
    // The stopped server closed the connection.
    assert!(conn.next().await.is_none());
}

#[tokio::test]
async fn quit_makes_redis_close_first_so_time_wait_is_the_servers() {
    let redis = Redis::start(RedisConfig::default()).await.unwrap();
    support::assert_farewells_leave_time_wait_on_the_server(redis.addr(), async || {
        let mut conn = connect(&redis).await;
        assert_eq!(ask(&mut conn, &["PING"]).await, simple("PONG"));
        assert_eq!(ask(&mut conn, &["QUIT"]).await, simple("OK"));
        // The server's FIN: only then does this side close.
        assert!(conn.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn redis_killed_and_restarted_serves_new_connections_on_its_port() {
    let mut redis = Redis::start(RedisConfig::default()).await.unwrap();
    support::assert_serves_again_after_kill_and_restart(
        &mut redis,
        async |redis| {
            let mut conn = connect(redis).await;
            assert_eq!(ask(&mut conn, &["PING"]).await, simple("PONG"));
            conn
        },
        // The kernel closed the killed server's end.
        async |mut before| assert!(matches!(before.next().await, None | Some(Err(_)))),
    )
    .await;
}

#[tokio::test]
async fn redis_closes_idle_clients_after_its_timeout() {
    let redis = Redis::start(RedisConfig::default().idle_timeout(Some(Duration::from_secs(1))))
        .await
        .unwrap();
    let mut conn = connect(&redis).await;
    assert_eq!(ask(&mut conn, &["PING"]).await, simple("PONG"));
    let closed = tokio::time::timeout(Duration::from_secs(10), conn.next()).await;
    assert!(matches!(closed, Ok(None)), "{closed:?}");
    drop(conn);
    support::assert_all_on_the_server(redis.addr(), 1).await;
}
