//! memcached on loopback: it answers through the memcache codec, `quit`
//! makes it close first (TIME_WAIT on the server, per the kernel), and it
//! serves new connections after a kill and a restart.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use futures_util::{SinkExt, StreamExt};
use timewait_servers::codec::{Memcache, MemcacheRequest, MemcacheResponse};
use timewait_servers::{Memcached, MemcachedConfig};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, Memcache>;

async fn connect(memcached: &Memcached) -> Conn {
    Framed::new(
        TcpStream::connect(memcached.addr()).await.unwrap(),
        Memcache::default(),
    )
}

async fn ask(conn: &mut Conn, request: MemcacheRequest) -> MemcacheResponse {
    conn.send(request).await.unwrap();
    conn.next().await.unwrap().unwrap()
}

async fn version(conn: &mut Conn) {
    let MemcacheResponse::Version(_) = ask(conn, MemcacheRequest::Version).await else {
        panic!("version is answered by VERSION");
    };
}

#[tokio::test]
async fn memcached_starts_answers_through_the_codec_and_stops() {
    let mut memcached = Memcached::start(MemcachedConfig::default()).await.unwrap();
    let mut conn = connect(&memcached).await;
    version(&mut conn).await;
    let set = MemcacheRequest::Set {
        key: "k".into(),
        flags: 7,
        exptime: 0,
        data: "hello\r\nworld".into(),
    };
    assert_eq!(ask(&mut conn, set).await, MemcacheResponse::Stored);
    let MemcacheResponse::Values(items) = ask(
        &mut conn,
        MemcacheRequest::Get(vec!["k".into(), "other".into()]),
    )
    .await
    else {
        panic!("get is answered by values");
    };
    assert_eq!(items.len(), 1);
    assert_eq!((&items[0].key[..], items[0].flags), (&b"k"[..], 7));
    assert_eq!(items[0].data, "hello\r\nworld");
    let deleted = ask(&mut conn, MemcacheRequest::Delete("k".into())).await;
    assert_eq!(deleted, MemcacheResponse::Deleted);
    let again = ask(&mut conn, MemcacheRequest::Delete("k".into())).await;
    assert_eq!(again, MemcacheResponse::NotFound);
    memcached.stop().await.unwrap();
    assert!(matches!(conn.next().await, None | Some(Err(_))));
}

#[tokio::test]
async fn quit_makes_memcached_close_first_so_time_wait_is_the_servers() {
    let memcached = Memcached::start(MemcachedConfig::default()).await.unwrap();
    support::assert_farewells_leave_time_wait_on_the_server(memcached.addr(), async || {
        let mut conn = connect(&memcached).await;
        version(&mut conn).await;
        conn.send(MemcacheRequest::Quit).await.unwrap();
        // No answer but the server's FIN: only then does this side close.
        assert!(conn.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn memcached_killed_and_restarted_serves_new_connections_on_its_port() {
    let mut memcached = Memcached::start(MemcachedConfig::default()).await.unwrap();
    support::assert_serves_again_after_kill_and_restart(
        &mut memcached,
        async |memcached| {
            let mut conn = connect(memcached).await;
            version(&mut conn).await;
            conn
        },
        async |mut before| assert!(matches!(before.next().await, None | Some(Err(_)))),
    )
    .await;
}

#[tokio::test]
async fn memcached_closes_idle_clients_first_after_its_idle_timeout() {
    let config = MemcachedConfig::default().idle_timeout(Some(std::time::Duration::from_secs(1)));
    let memcached = Memcached::start(config).await.unwrap();
    let mut conn = connect(&memcached).await;
    version(&mut conn).await;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), conn.next()).await;
    assert!(matches!(closed, Ok(None)), "{closed:?}");
    drop(conn);
    assert_eq!(
        support::sides(memcached.addr()).await,
        support::all_on_the_server(1),
        "{}",
        memcached.log_tail()
    );
}
