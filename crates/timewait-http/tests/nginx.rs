//! Against a real nginx on loopback (`timewait_servers::Nginx`): its
//! `keepalive_requests` ends a connection with `Connection: close`, its
//! `keepalive_timeout` with the header parameter announces
//! `Keep-Alive: timeout=N`, and either way, and at shutdown, nginx closes
//! first: the kernel's census shows no TIME_WAIT on the client and one on
//! the server per connection. Plain HTTP, and TLS with the feature `tls`.
//! hyper-util's legacy client runs beside it against the same
//! configuration, printed for comparison.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;
use timewait_echo::{TimeWaitSides, settled_time_wait};
use timewait_http::Client;
use timewait_servers::{NGINX_BODY, Nginx, NginxConfig};

const REQUESTS: usize = 200;
const TASKS: usize = 4;
const SETTLE: Duration = Duration::from_secs(15);

/// The workload through `client`, each body checked to be nginx's: its
/// requests per second.
async fn run(client: &Client, url: &str) -> f64 {
    let start = Instant::now();
    support::get_from_tasks(client, url, REQUESTS, TASKS, |body| {
        assert_eq!(body, NGINX_BODY.as_bytes());
    })
    .await;
    REQUESTS as f64 / start.elapsed().as_secs_f64()
}

/// The workload through hyper-util's `legacy` client, which is then
/// dropped: its requests per second, and where TIME_WAIT landed once the
/// connections to `nginx` settled.
async fn run_legacy<C>(
    legacy: LegacyClient<C, Empty<Bytes>>,
    url: &http::Uri,
    nginx: &Nginx,
) -> (f64, TimeWaitSides)
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let start = Instant::now();
    if let Err(error) = support::legacy_get_from_tasks(&legacy, url, REQUESTS, TASKS).await {
        let listeners = std::process::Command::new("ss")
            .args(["-Hltnp", &format!("sport = :{}", nginx.addr().port())])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        panic!(
            "hyper-util against nginx at {}: {error}\nlisteners on its port: {listeners:?}\nnginx's log:\n{}",
            nginx.addr(),
            nginx.log_tail()
        );
    }
    let rate = REQUESTS as f64 / start.elapsed().as_secs_f64();
    drop(legacy);
    let sides = settled_time_wait(nginx.addr(), SETTLE).await.unwrap();
    (rate, sides)
}

/// Shuts `client` down, prints its row as `name`, and checks that nginx
/// closed every connection first: no TIME_WAIT on the client, one on nginx
/// per connection, none retired by the client. Its connects.
async fn shut_down_and_check_nginx_closed_first(
    client: &Client,
    nginx: &Nginx,
    name: &str,
    rate: f64,
) -> u64 {
    let report = client.shutdown(Duration::from_secs(10)).await;
    assert!(report.completed, "{report:?}");
    let sides = settled_time_wait(nginx.addr(), SETTLE).await.unwrap();
    let activity = client.stats().total.activity;
    row(name, Some(activity.connects), rate, sides);
    assert_eq!(sides.client, 0, "{activity:?} {}", nginx.log_tail());
    assert_eq!(sides.server as u64, activity.connects);
    assert_eq!(activity.retired.local, 0, "{activity:?}");
    activity.connects
}

fn row(name: &str, connects: Option<u64>, rate: f64, sides: TimeWaitSides) {
    let connects = connects.map_or_else(|| "-".to_owned(), |n| n.to_string());
    println!(
        "{name:<42} connects {connects:>4}  req/s {rate:>8.0}  client TW {:>4}  server TW {:>4}",
        sides.client, sides.server
    );
}

async fn start(config: NginxConfig) -> Nginx {
    match Nginx::start(config).await {
        Ok(nginx) => nginx,
        Err(error) => panic!("nginx did not start: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_requests_and_shutdown_leave_time_wait_on_nginx() {
    let nginx = start(NginxConfig::default().keepalive_requests(10)).await;
    let client = Client::new();
    let url = format!("http://{}/", nginx.addr());
    let rate = run(&client, &url).await;
    let connects = shut_down_and_check_nginx_closed_first(
        &client,
        &nginx,
        "timewait-http, keepalive_requests 10",
        rate,
    )
    .await;
    assert!(connects >= (REQUESTS / 10) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_against_the_same_nginx_for_comparison() {
    let nginx = start(NginxConfig::default().keepalive_requests(10)).await;
    let legacy: LegacyClient<_, Empty<Bytes>> =
        LegacyClient::builder(TokioExecutor::new()).build_http();
    let url: http::Uri = format!("http://{}/", nginx.addr()).parse().unwrap();
    let (rate, sides) = run_legacy(legacy, &url, &nginx).await;
    row(
        "hyper-util-legacy, keepalive_requests 10",
        None,
        rate,
        sides,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_timeout_header_is_honoured_by_waiting_for_nginx_to_close() {
    // nginx closes connections idle 2 s and says `Keep-Alive: timeout=2`.
    let two = Duration::from_secs(2);
    let nginx = start(NginxConfig::default().keepalive_timeout(two, Some(two))).await;
    let client = Client::new(); // margin 1 s: stop lending after 1 s idle
    let url = format!("http://{}/", nginx.addr());
    let rate = run(&client, &url).await;
    let connects = client.stats().total.activity.connects;
    // Nothing is asked of nginx: the pool retires each connection after
    // 1 s idle and waits for nginx's own close at 2 s.
    let deadline = tokio::time::Instant::now() + SETTLE;
    while client.stats().total.activity.retired.by_peer < connects {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            client.stats().total
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let activity = client.stats().total.activity;
    assert_eq!(activity.reasons.expired, connects, "{activity:?}");
    assert_eq!(activity.retired.local, 0);
    let sides = settled_time_wait(nginx.addr(), SETTLE).await.unwrap();
    row(
        "timewait-http, Keep-Alive: timeout=2",
        Some(connects),
        rate,
        sides,
    );
    assert_eq!(
        sides,
        TimeWaitSides {
            server: connects as usize,
            client: 0
        }
    );
}

/// nginx over TLS with a fresh test certificate, `keepalive_requests 10`:
/// the certificate, the server, and its URL by host name.
#[cfg(feature = "tls")]
async fn start_tls() -> (support::tls::TestCert, Nginx, String) {
    let cert = support::tls::TestCert::new();
    let config = NginxConfig::default()
        .keepalive_requests(10)
        .tls(&cert.cert_pem, &cert.key_pem);
    let nginx = start(config).await;
    let url = format!("https://localhost:{}/", nginx.addr().port());
    (cert, nginx, url)
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_nginx_closes_first_too() {
    let (cert, nginx, url) = start_tls().await;
    let client = Client::builder().tls(cert.client_config()).build().unwrap();
    let rate = run(&client, &url).await;
    shut_down_and_check_nginx_closed_first(
        &client,
        &nginx,
        "timewait-http, TLS, keepalive_requests 10",
        rate,
    )
    .await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_over_tls_against_the_same_nginx_for_comparison() {
    let (cert, nginx, url) = start_tls().await;
    let connector = support::tls::LegacyTlsConnector::new(cert.client_config());
    let connects = connector.connects.clone();
    let legacy: LegacyClient<_, Empty<Bytes>> =
        LegacyClient::builder(TokioExecutor::new()).build(connector);
    let url: http::Uri = url.parse().unwrap();
    let (rate, sides) = run_legacy(legacy, &url, &nginx).await;
    let connects = connects.load(std::sync::atomic::Ordering::Relaxed);
    // Printed for comparison. hyper writes its close_notify after nginx has
    // closed, which can draw a reset: such connections leave TIME_WAIT
    // nowhere, and the reset's own risks (RFC 1337) instead.
    row(
        "hyper-util-legacy, TLS, keepalive_requests 10",
        Some(connects),
        rate,
        sides,
    );
}
