//! Framed leases against a real memcached on loopback: `set` and `get`
//! pipelined through the text codec, connections retired during the run and
//! at shutdown, and the kernel's census says where TIME_WAIT landed; a
//! server killed mid-run fails the requests in flight with typed errors,
//! and the pool recovers.
#![cfg(all(target_os = "linux", feature = "codec"))]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod framed_servers;

use bytes::Bytes;
use framed_servers::{Lease, LentOnce};
use timewait::pool::ClosePolicy;
use timewait::pool::farewells::MemcachedQuit;
use timewait_servers::codec::{Memcache, MemcacheRequest, MemcacheResponse};
use timewait_servers::{Memcached, MemcachedConfig};

async fn memcached() -> Memcached {
    framed_servers::needs("memcached", Memcached::start(MemcachedConfig::default())).await
}

/// `set` then `get` of this request's own key, pipelined on one lease:
/// the value read back must be this request's.
async fn set_and_get(lease: Lease, id: u64) {
    let mut conn = lease.framed(Memcache::default());
    let key = Bytes::from(format!("key:{id}"));
    let value = Bytes::from(format!("value of request {id}"));
    conn.feed(MemcacheRequest::Set {
        key: key.clone(),
        flags: 0,
        exptime: 0,
        data: value.clone(),
    })
    .await
    .unwrap();
    conn.feed(MemcacheRequest::Get(vec![key])).await.unwrap();
    conn.flush().await.unwrap();
    assert_eq!(conn.receive().await.unwrap(), MemcacheResponse::Stored);
    let MemcacheResponse::Values(items) = conn.receive().await.unwrap() else {
        panic!("get answered something else");
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].data, value);
    assert!(conn.release().is_returned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_peer_first_quit_leaves_every_time_wait_on_the_memcached_server() {
    let memcached = memcached().await;
    let outcome = framed_servers::run_printed(
        "memcached",
        MemcachedQuit,
        ClosePolicy::PeerFirst,
        memcached.addr(),
        set_and_get,
    )
    .await;
    framed_servers::assert_server_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_local_the_same_memcached_workload_leaves_every_time_wait_on_the_client() {
    let memcached = memcached().await;
    let outcome = framed_servers::run_printed(
        "memcached",
        MemcachedQuit,
        ClosePolicy::Local,
        memcached.addr(),
        set_and_get,
    )
    .await;
    framed_servers::assert_client_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memcached_killed_mid_run_fails_the_requests_in_flight_and_the_pool_recovers() {
    let mut memcached = memcached().await;
    let server = memcached.addr();
    let pool = framed_servers::pool(MemcachedQuit, ClosePolicy::PeerFirst);
    let lent = LentOnce::default();
    framed_servers::exchange_each(&pool, server, &lent, 0..20, set_and_get).await;
    // Leases held mid-exchange (memcached has no request it holds
    // unanswered): each has served a request and sends the next after the
    // kill.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = pool.get(server).await.unwrap().framed(Memcache::default());
        assert!(matches!(
            conn.call(MemcacheRequest::Version).await.unwrap(),
            MemcacheResponse::Version(_)
        ));
        held.push(conn);
    }
    let killed_at = tokio::time::Instant::now();
    memcached.kill().unwrap();
    for mut conn in held {
        let error = conn.call(MemcacheRequest::Version).await.unwrap_err();
        framed_servers::assert_cut_by_the_server(&error);
        assert!(!conn.release().is_returned());
    }
    framed_servers::assert_checkout_refused(&pool, server).await;

    memcached.restart().await.unwrap();
    framed_servers::exchange_each_on_new_connections(
        &pool,
        server,
        &lent,
        100..140,
        killed_at,
        set_and_get,
    )
    .await;
    framed_servers::assert_shutdown_completes(&pool).await;
}
