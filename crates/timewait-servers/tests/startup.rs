//! Every server starts, one after the other, and says how long it took:
//! `cargo test -p timewait-servers --test startup -- --nocapture` prints the
//! figures. Also: a dropped server leaves no process and no directory.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::time::{Duration, Instant};

use timewait_servers::{
    Memcached, MemcachedConfig, Nginx, NginxConfig, Postgres, PostgresConfig, Redis, RedisConfig,
};

/// Prints one server's figures: the whole `start` call, the part from
/// spawning the process to the first answer, and a restart.
fn report(name: &str, start: Duration, ready: Duration, stop: Duration, restart: Duration) {
    println!(
        "{name:<10} start {:>7.1} ms (spawn to first answer {:>7.1} ms), stop {:>6.1} ms, restart {:>7.1} ms",
        ms(start),
        ms(ready),
        ms(stop),
        ms(restart)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times `start`, a graceful stop and a restart of one kind of server.
macro_rules! time_server {
    ($name:literal, $start:expr) => {{
        let t = Instant::now();
        let mut server = $start.await.unwrap();
        let start = t.elapsed();
        let ready = server.last_start();
        let t = Instant::now();
        server.stop().await.unwrap();
        let stop = t.elapsed();
        server.restart().await.unwrap();
        report($name, start, ready, stop, server.last_start());
        server
    }};
}

#[tokio::test]
async fn every_server_starts_stops_and_restarts_and_says_how_long_it_took() {
    let redis = time_server!("redis", Redis::start(RedisConfig::default()));
    let memcached = time_server!("memcached", Memcached::start(MemcachedConfig::default()));
    let nginx = time_server!("nginx", Nginx::start(NginxConfig::default()));
    let postgres = time_server!("postgres", Postgres::start(PostgresConfig::default()));
    println!("postgres   initdb {:>7.1} ms", ms(postgres.init_time()));

    let dirs = [redis.dir(), memcached.dir(), nginx.dir(), postgres.dir()].map(|d| d.to_owned());
    let t = Instant::now();
    drop((redis, memcached, nginx, postgres));
    println!("dropping all four took {:.1} ms", ms(t.elapsed()));
    for dir in dirs {
        assert!(!dir.exists(), "{} outlived its server", dir.display());
    }
}
