//! A server that cannot start is a typed error that says why: a missing
//! program names its package, a server that exits or never answers shows
//! the end of its log.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use timewait_servers::{
    Memcached, MemcachedConfig, Nginx, NginxConfig, Postgres, PostgresConfig, Redis, RedisConfig,
    ServerError,
};

/// Asserts `result` is a missing-binary error telling to install `package`.
fn assert_missing<T: std::fmt::Debug>(result: Result<T, ServerError>, package: &str) {
    let err = result.unwrap_err();
    assert!(matches!(err, ServerError::MissingBinary { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("apt-get install {package}")),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_program_says_which_package_to_install() {
    let nowhere = "/nonexistent/program";
    assert_missing(
        Redis::start(RedisConfig::default().binary(nowhere)).await,
        "redis-server",
    );
    assert_missing(
        Memcached::start(MemcachedConfig::default().binary(nowhere)).await,
        "memcached",
    );
    assert_missing(
        Nginx::start(NginxConfig::default().binary(nowhere)).await,
        "nginx",
    );
    assert_missing(
        Postgres::start(PostgresConfig::default().bin_dir(nowhere)).await,
        "postgresql",
    );
}

#[tokio::test]
async fn a_server_that_exits_at_start_shows_its_log() {
    let config = NginxConfig::default().tls("/nonexistent/cert.pem", "/nonexistent/key.pem");
    let err = Nginx::start(config).await.unwrap_err();
    let ServerError::Exited { log_tail, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(log_tail.contains("/nonexistent/cert.pem"), "{log_tail}");
    assert!(err.to_string().contains("/nonexistent/cert.pem"));
}

#[tokio::test]
async fn a_server_that_never_answers_is_not_ready_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("redis-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'pretending to start'\nexec sleep 60\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = RedisConfig::default()
        .binary(&fake)
        .ready_within(Duration::from_millis(300));
    let started = Instant::now();
    let err = Redis::start(config).await.unwrap_err();
    let ServerError::NotReady { log_tail, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(log_tail.contains("pretending to start"), "{log_tail}");
    // The bound held, and the dropped server did not keep the test waiting.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
