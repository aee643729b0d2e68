//! Framed leases against a real PostgreSQL on loopback: a startup on each
//! new connection, then simple queries whose responses end at
//! `ReadyForQuery`, connections retired during the run and at shutdown, and
//! the kernel's census says where TIME_WAIT landed; a server killed mid-run
//! fails the query in flight with a typed error, and the pool recovers.
#![cfg(all(target_os = "linux", feature = "codec"))]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod framed_servers;

use framed_servers::{Lease, LentOnce, WITHIN};
use timewait::pool::ClosePolicy;
use timewait::pool::farewells::PostgresTerminate;
use timewait::pool::framed::FramedLease;
use timewait_servers::codec::{PgBackend, PgCodec, PgFrontend};
use timewait_servers::{POSTGRES_USER, Postgres, PostgresConfig};
use tokio::net::TcpStream;

type PgLease = FramedLease<std::net::SocketAddr, TcpStream, PgCodec, fn(&PgBackend) -> bool>;

async fn postgres() -> Postgres {
    framed_servers::needs("PostgreSQL", Postgres::start(PostgresConfig::default())).await
}

/// A response ends at `ReadyForQuery`.
fn ready_for_query(message: &PgBackend) -> bool {
    matches!(message, PgBackend::ReadyForQuery(_))
}

/// The lease with the PostgreSQL codec, started up if the connection is new.
async fn session(lease: Lease) -> PgLease {
    let new = !lease.is_reused();
    let mut conn = lease
        .framed(PgCodec::default())
        .with_boundary(ready_for_query as fn(&PgBackend) -> bool);
    if new {
        conn.send(PgFrontend::startup(POSTGRES_USER, POSTGRES_USER))
            .await
            .unwrap();
        let messages = conn.response().await.unwrap();
        assert!(
            messages.contains(&PgBackend::AuthenticationOk),
            "{messages:?}"
        );
    }
    conn
}

/// `SELECT <id>` on the session: the row must be this request's.
async fn select(lease: Lease, id: u64) {
    let mut conn = session(lease).await;
    conn.send(PgFrontend::Query(format!("SELECT {id}")))
        .await
        .unwrap();
    let messages = conn.response().await.unwrap();
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            PgBackend::DataRow(columns) => Some(columns.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rows, [vec![Some(id.to_string().into())]], "{messages:?}");
    assert_eq!(messages.last(), Some(&PgBackend::ReadyForQuery(b'I')));
    assert!(conn.release().is_returned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_peer_first_terminate_leaves_every_time_wait_on_the_postgres_server() {
    let postgres = postgres().await;
    let outcome = framed_servers::run_printed(
        "postgres",
        PostgresTerminate,
        ClosePolicy::PeerFirst,
        postgres.addr(),
        select,
    )
    .await;
    framed_servers::assert_server_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_local_the_same_postgres_workload_leaves_every_time_wait_on_the_client() {
    let postgres = postgres().await;
    let outcome = framed_servers::run_printed(
        "postgres",
        PostgresTerminate,
        ClosePolicy::Local,
        postgres.addr(),
        select,
    )
    .await;
    framed_servers::assert_client_closed_every_connection(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_on_one_session_are_answered_in_order() {
    let postgres = postgres().await;
    let pool = framed_servers::pool(PostgresTerminate, ClosePolicy::PeerFirst);
    let mut conn = session(pool.get(postgres.addr()).await.unwrap()).await;
    for i in 0..10 {
        conn.feed(PgFrontend::Query(format!("SELECT {i}")))
            .await
            .unwrap();
    }
    conn.flush().await.unwrap();
    assert_eq!(conn.owed(), 10);
    for i in 0..10u32 {
        let messages = conn.response().await.unwrap();
        assert!(
            messages.contains(&PgBackend::DataRow(vec![Some(i.to_string().into())])),
            "{messages:?}"
        );
    }
    assert!(conn.release().is_returned());
    pool.shutdown(WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_killed_mid_run_fails_the_query_in_flight_and_the_pool_recovers() {
    let mut postgres = postgres().await;
    let server = postgres.addr();
    let pool = framed_servers::pool(PostgresTerminate, ClosePolicy::PeerFirst);
    let lent = LentOnce::default();
    framed_servers::exchange_each(&pool, server, &lent, 0..10, select).await;
    // A query the server is still running when it is killed.
    let mut conn = session(pool.get(server).await.unwrap()).await;
    conn.send(PgFrontend::Query("SELECT pg_sleep(600)".into()))
        .await
        .unwrap();
    let in_flight = tokio::spawn(async move {
        let answer = conn.response().await;
        (answer, conn.release())
    });
    let killed_at = tokio::time::Instant::now();
    postgres.kill().unwrap();
    let (answer, release) = in_flight.await.unwrap();
    framed_servers::assert_cut_by_the_server(&answer.unwrap_err());
    assert!(!release.is_returned());
    framed_servers::assert_checkout_refused(&pool, server).await;

    postgres.restart().await.unwrap();
    framed_servers::exchange_each_on_new_connections(
        &pool,
        server,
        &lent,
        100..120,
        killed_at,
        select,
    )
    .await;
    framed_servers::assert_shutdown_completes(&pool).await;
}
