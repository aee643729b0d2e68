//! Framed leases against a real redis-server on loopback: request/response
//! through the RESP codec, connections retired during the run and at
//! shutdown, and the kernel's census says where TIME_WAIT landed; a server
//! killed mid-run fails the requests in flight with typed errors, and the
//! pool recovers.
#![cfg(all(target_os = "linux", feature = "codec"))]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod framed_servers;
mod support;

use std::time::Duration;

use framed_servers::{Lease, LentOnce, TcpPool, WITHIN, assert_cut_by_the_server};
use timewait::pool::ClosePolicy;
use timewait::pool::farewells::{RedisClientKillSelf, RedisQuit};
use timewait::pool::framed::FramedService;
use timewait_servers::codec::{Resp, RespCommand, RespValue};
use timewait_servers::{Redis, RedisConfig};
use tower::ServiceExt;

async fn redis() -> Redis {
    framed_servers::needs("redis-server", Redis::start(RedisConfig::default())).await
}

/// `ECHO <id>` through a framed lease: the answer must be this request's.
async fn echo(lease: Lease, id: u64) {
    let mut conn = lease.framed(Resp::default());
    let tag = format!("request {id}");
    let answer = conn
        .call(RespCommand::new(["ECHO", tag.as_str()]))
        .await
        .unwrap();
    assert_eq!(answer, RespValue::Bulk(Some(tag.into())));
    assert!(conn.release().is_returned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_peer_first_quit_leaves_every_time_wait_on_the_redis_server() {
    let redis = redis().await;
    let outcome = framed_servers::run_printed(
        "redis",
        RedisQuit,
        ClosePolicy::PeerFirst,
        redis.addr(),
        echo,
    )
    .await;
    framed_servers::assert_server_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_local_the_same_workload_leaves_every_time_wait_on_the_client() {
    let redis = redis().await;
    let outcome =
        framed_servers::run_printed("redis", RedisQuit, ClosePolicy::Local, redis.addr(), echo)
            .await;
    framed_servers::assert_client_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_of_itself_makes_redis_close_first_without_quit() {
    let redis = redis().await;
    let outcome = framed_servers::run_printed(
        "redis (CLIENT KILL)",
        RedisClientKillSelf,
        ClosePolicy::PeerFirst,
        redis.addr(),
        echo,
    )
    .await;
    framed_servers::assert_server_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_on_one_lease_are_answered_in_order() {
    let redis = redis().await;
    let pool = framed_servers::pool(RedisQuit, ClosePolicy::PeerFirst);
    let mut conn = pool
        .get(redis.addr())
        .await
        .unwrap()
        .framed(Resp::default());
    for i in 0..50 {
        conn.feed(RespCommand::new(["SET", &format!("k{i}"), &i.to_string()]))
            .await
            .unwrap();
        conn.feed(RespCommand::new(["GET", &format!("k{i}")]))
            .await
            .unwrap();
    }
    conn.flush().await.unwrap();
    assert_eq!(conn.owed(), 100);
    for i in 0..50 {
        assert_eq!(
            conn.receive().await.unwrap(),
            RespValue::Simple("OK".into())
        );
        assert_eq!(
            conn.receive().await.unwrap(),
            RespValue::Bulk(Some(i.to_string().into()))
        );
    }
    assert!(conn.release().is_returned());
    pool.shutdown(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framed_service_for_one_key_answers_concurrent_calls_over_pooled_connections() {
    let redis = redis().await;
    let pool = framed_servers::pool(RedisQuit, ClosePolicy::PeerFirst);
    let service = FramedService::new(pool.clone(), redis.addr(), Resp::default());
    let mut calls = tokio::task::JoinSet::new();
    for id in 0..200 {
        let service = service.clone();
        calls.spawn(async move {
            let tag = format!("call {id}");
            let answer = service
                .oneshot(RespCommand::new(["ECHO", tag.as_str()]))
                .await
                .unwrap();
            assert_eq!(answer, RespValue::Bulk(Some(tag.into())));
        });
    }
    while let Some(call) = calls.join_next().await {
        call.unwrap();
    }
    let activity = pool.stats().total.activity;
    assert!(activity.connects <= framed_servers::TASKS as u64 + activity.reasons.used_up);
    assert_eq!(activity.connects + activity.reuses, 200, "{activity:?}");
    assert_eq!(activity.reasons.unreleased, 0, "{activity:?}");
    pool.shutdown(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_killed_mid_run_fails_the_requests_in_flight_and_the_pool_recovers() {
    let mut redis = redis().await;
    let server = redis.addr();
    let pool: TcpPool = framed_servers::pool(RedisQuit, ClosePolicy::PeerFirst);
    let lent = LentOnce::default();
    framed_servers::exchange_each(&pool, server, &lent, 0..20, echo).await;

    // Two requests that Redis holds unanswered (BLPOP on an empty list),
    // and a lease held between requests.
    let mut in_flight = Vec::new();
    for n in 0..2 {
        let mut conn = pool.get(server).await.unwrap().framed(Resp::default());
        conn.send(RespCommand::new(["BLPOP", &format!("never:{n}"), "0"]))
            .await
            .unwrap();
        in_flight.push(tokio::spawn(async move {
            let answer = conn.receive().await;
            (answer, conn.release())
        }));
    }
    let mut held = pool.get(server).await.unwrap().framed(Resp::default());
    assert_eq!(
        held.call(RespCommand::new(["PING"])).await.unwrap(),
        RespValue::Simple("PONG".into())
    );
    let killed_at = tokio::time::Instant::now();
    redis.kill().unwrap();

    for request in in_flight {
        let (answer, release) = request.await.unwrap();
        assert_cut_by_the_server(&answer.unwrap_err());
        assert!(!release.is_returned());
    }
    // The held lease's next request: written into the kernel's buffer,
    // answered by the dead server's FIN or reset.
    let error = held.call(RespCommand::new(["PING"])).await.unwrap_err();
    assert_cut_by_the_server(&error);
    drop(held);
    // While it is down, a checkout fails with the connector's typed error.
    framed_servers::assert_checkout_refused(&pool, server).await;

    redis.restart().await.unwrap();
    framed_servers::exchange_each_on_new_connections(
        &pool,
        server,
        &lent,
        100..140,
        killed_at,
        echo,
    )
    .await;
    framed_servers::assert_shutdown_completes(&pool).await;
}

#[tokio::test]
async fn the_redis_ping_example_reports_requests_and_time_wait_per_side() {
    let redis = redis().await;
    // By host name, as the README runs it.
    let server = format!("localhost:{}", redis.addr().port());
    let output = support::run_example_within(
        "redis-ping",
        &[
            "--server".into(),
            server,
            "--requests".into(),
            "2000".into(),
            "--max-uses".into(),
            "100".into(),
        ],
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{stdout}");
    let row: Vec<&str> = stdout.lines().nth(1).unwrap().split_whitespace().collect();
    // policy requests errors seconds req/s connects reuses client-TW server-TW
    assert_eq!(row[0], "peerfirst");
    assert_eq!(row[2], "0", "errors");
    let connects: usize = row[5].parse().unwrap();
    assert_eq!(row[7], "0", "client TIME_WAIT");
    assert_eq!(
        row[8].parse::<usize>().unwrap(),
        connects,
        "server TIME_WAIT"
    );
}
