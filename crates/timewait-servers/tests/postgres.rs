//! A throwaway PostgreSQL cluster on loopback: it answers a simple query
//! through the PostgreSQL codec, `Terminate` makes the backend close first
//! (TIME_WAIT on the server, per the kernel), and it serves new connections
//! after a kill and a restart.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use timewait_servers::codec::{PgBackend, PgCodec, PgFrontend};
use timewait_servers::{POSTGRES_USER, Postgres, PostgresConfig};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, PgCodec>;

/// Connects and completes a startup under `trust`.
async fn connect(postgres: &Postgres) -> Conn {
    let stream = TcpStream::connect(postgres.addr()).await.unwrap();
    let mut conn = Framed::new(stream, PgCodec::default());
    let startup = PgFrontend::startup(POSTGRES_USER, POSTGRES_USER);
    conn.send(startup).await.unwrap();
    assert_eq!(next(&mut conn).await, PgBackend::AuthenticationOk);
    let mut saw_key = false;
    loop {
        match next(&mut conn).await {
            PgBackend::ParameterStatus { .. } => {}
            PgBackend::BackendKeyData { .. } => saw_key = true,
            PgBackend::ReadyForQuery(b'I') => break,
            other => panic!("unexpected during startup: {other:?}"),
        }
    }
    assert!(saw_key);
    conn
}

async fn next(conn: &mut Conn) -> PgBackend {
    conn.next().await.unwrap().unwrap()
}

/// Runs `sql` and returns the messages up to `ReadyForQuery`.
async fn query(conn: &mut Conn, sql: &str) -> Vec<PgBackend> {
    conn.send(PgFrontend::Query(sql.into())).await.unwrap();
    let mut messages = Vec::new();
    loop {
        match next(conn).await {
            PgBackend::ReadyForQuery(_) => return messages,
            other => messages.push(other),
        }
    }
}

async fn select_one(conn: &mut Conn) {
    let messages = query(conn, "SELECT 1 AS one, NULL AS nothing").await;
    let [
        PgBackend::RowDescription(fields),
        PgBackend::DataRow(row),
        PgBackend::CommandComplete(tag),
    ] = messages.as_slice()
    else {
        panic!("{messages:?}");
    };
    assert_eq!(fields[0].name, "one");
    assert_eq!(row, &[Some("1".into()), None]);
    assert_eq!(tag, "SELECT 1");
}

#[tokio::test]
async fn postgres_starts_answers_a_query_through_the_codec_and_stops() {
    let mut postgres = Postgres::start(PostgresConfig::default()).await.unwrap();
    let mut conn = connect(&postgres).await;
    select_one(&mut conn).await;
    let messages = query(&mut conn, "SELEC oops").await;
    let [PgBackend::ErrorResponse(error)] = messages.as_slice() else {
        panic!("{messages:?}");
    };
    assert_eq!(error.code(), Some("42601"));
    postgres.stop().await.unwrap();
    // A fast shutdown ends the session with an error, then the FIN.
    loop {
        match conn.next().await {
            None | Some(Err(_)) => break,
            Some(Ok(PgBackend::ErrorResponse(_))) => {}
            Some(Ok(other)) => panic!("unexpected after the shutdown: {other:?}"),
        }
    }
}

#[tokio::test]
async fn terminate_makes_postgres_close_first_so_time_wait_is_the_servers() {
    let postgres = Postgres::start(PostgresConfig::default()).await.unwrap();
    support::assert_farewells_leave_time_wait_on_the_server(postgres.addr(), async || {
        let mut conn = connect(&postgres).await;
        select_one(&mut conn).await;
        conn.send(PgFrontend::Terminate).await.unwrap();
        // The backend exits: its FIN, and only then does this side close.
        assert!(conn.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn postgres_killed_and_restarted_serves_new_connections_on_its_port() {
    let mut postgres = Postgres::start(PostgresConfig::default()).await.unwrap();
    support::assert_serves_again_after_kill_and_restart(
        &mut postgres,
        async |postgres| {
            let mut conn = connect(postgres).await;
            select_one(&mut conn).await;
            conn
        },
        async |mut before| assert!(matches!(before.next().await, None | Some(Err(_)))),
    )
    .await;
}

#[tokio::test]
async fn postgres_ends_idle_sessions_after_its_idle_session_timeout() {
    let config = PostgresConfig::default().idle_session_timeout(Some(Duration::from_millis(300)));
    let postgres = Postgres::start(config).await.unwrap();
    let mut conn = connect(&postgres).await;
    // The backend says why (57P05), then closes first.
    let ended = tokio::time::timeout(Duration::from_secs(10), conn.next())
        .await
        .unwrap();
    let Some(Ok(PgBackend::ErrorResponse(error))) = ended else {
        panic!("{ended:?}");
    };
    assert_eq!(error.code(), Some("57P05"));
    assert!(conn.next().await.is_none());
    drop(conn);
    support::assert_all_on_the_server(postgres.addr(), 1).await;
}
