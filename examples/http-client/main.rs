//! A command line over `timewait::http::Client` (the `timewait-http` crate),
//! an HTTP/1.1 client over a `timewait` pool, and where its TIME_WAIT lands.
//!
//! It sends `--requests` GET requests to `--url` from `--concurrency` tasks
//! and prints one row: requests per second, latency percentiles, connections
//! made, and the run's TIME_WAIT entries on each side, counted by the
//! kernel's census (sock_diag) once every connection has finished closing.
//!
//! Retiring a connection makes the server close first, so the TIME_WAIT
//! entry stays on the server: a connection's last request (its `--max-uses`th,
//! or the first once it is `--max-lifetime-ms` old) carries
//! `Connection: close`, and a connection retired while idle (at the end, or
//! when its lifetime ran out between requests) gets `OPTIONS *` with
//! `Connection: close`; the client then reads until the server's FIN before
//! it closes. A server's `Keep-Alive: timeout=N` (or `--peer-keep-alive-ms`
//! for a server that closes idle connections without saying so) makes the
//! client stop lending a connection a margin before it and wait for the
//! server's idle close instead.
//!
//! `--client hyper-util` runs the same workload through hyper-util's legacy
//! pooled client with its default pool, to compare requests per second and
//! TIME_WAIT placement side by side.
//!
//! ```text
//! cargo run --example http-client -- --url http://127.0.0.1:8080/ --requests 10000 --concurrency 16
//! cargo run --example http-client -- --url http://127.0.0.1:8080/ --client hyper-util --json
//! ```
//!
//! Works against any HTTP/1.1 server over plain `http://`. The server's
//! TIME_WAIT can be counted only when the server runs on this machine (in
//! this network namespace); otherwise `server_time_wait` is null. Linux only
//! for the counts.

mod hyper_util_client;
mod placement;
mod timewait_client;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use http::uri::{Scheme, Uri};
use serde::Serialize;
use timewait::pool::BoxError;

use crate::timewait_client::{Run, Settings};

/// HTTP/1.1 requests over pooled connections, and where TIME_WAIT lands.
#[derive(Debug, Parser)]
struct Args {
    /// The URL to GET (plain `http://`).
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    url: String,
    /// How many requests to send.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// How many requests in flight at once (and at most this many
    /// connections).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Which client runs the workload.
    #[arg(long, value_enum, default_value_t = ClientKind::Timewait)]
    client: ClientKind,
    /// Retire a connection after this many requests, the last with
    /// `Connection: close` (0: no limit). timewait client only.
    #[arg(long, default_value_t = 100)]
    max_uses: u64,
    /// Retire a connection this many milliseconds after it was made.
    /// timewait client only.
    #[arg(long)]
    max_lifetime_ms: Option<u64>,
    /// The server closes connections idle this many milliseconds without
    /// announcing it: stop lending a connection a margin before, and let
    /// idle retirements wait for that close. timewait client only.
    #[arg(long)]
    peer_keep_alive_ms: Option<u64>,
    /// Stop lending a connection this many milliseconds before the server's
    /// keep-alive timeout (announced, or `--peer-keep-alive-ms`).
    #[arg(long, default_value_t = 1000)]
    keep_alive_margin_ms: u64,
    /// How long a retirement waits for the server's FIN, in milliseconds
    /// (default 5000).
    #[arg(long)]
    grace_ms: Option<u64>,
    /// How long to wait for the connections to finish closing before
    /// counting TIME_WAIT, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    settle_ms: u64,
}

/// The client that runs the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ClientKind {
    /// `timewait::http::Client`: the server closes first.
    Timewait,
    /// hyper-util's legacy pooled client, with its default pool.
    HyperUtil,
}

impl ClientKind {
    fn scenario(self) -> &'static str {
        match self {
            ClientKind::Timewait => "timewait-http",
            ClientKind::HyperUtil => "hyper-util-legacy",
        }
    }
}

/// Where the requests go.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The absolute URL.
    pub(crate) uri: Uri,
    /// The server's port, for the census.
    pub(crate) port: u16,
}

/// A `--url` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
enum UrlError {
    #[error("--url {url:?} is not a URL")]
    Invalid {
        url: String,
        source: http::uri::InvalidUri,
    },
    #[error("--url {0:?} is not http://: give a plain http:// URL (no TLS here)")]
    NotHttp(String),
    #[error("--url {0:?} has no host: give one, as in http://127.0.0.1:8080/")]
    NoHost(String),
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let uri: Uri = url.parse().map_err(|source| UrlError::Invalid {
            url: url.to_owned(),
            source,
        })?;
        if uri.scheme() != Some(&Scheme::HTTP) {
            return Err(UrlError::NotHttp(url.to_owned()));
        }
        let Some(authority) = uri.authority() else {
            return Err(UrlError::NoHost(url.to_owned()));
        };
        let port = authority.port_u16().unwrap_or(80);
        Ok(Endpoint { uri, port })
    }
}

/// One result row, the JSON keys the demo uses.
#[derive(Debug, Serialize)]
struct Row {
    scenario: &'static str,
    requests: u64,
    errors: u64,
    seconds: f64,
    req_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    connects: u64,
    /// `None` when the census could not be read.
    client_time_wait: Option<usize>,
    /// `None` when the server is not local (or the census could not be read).
    server_time_wait: Option<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("http-client: {}", workload::chain(&*error));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<ExitCode, BoxError> {
    let endpoint = Endpoint::parse(&args.url)?;
    let concurrency = args.concurrency.max(1);
    let run: Run = match args.client {
        ClientKind::Timewait => {
            let settings = settings(args);
            timewait_client::run(&endpoint, args.requests, concurrency, settings).await?
        }
        ClientKind::HyperUtil => {
            hyper_util_client::run(&endpoint, args.requests, concurrency).await?
        }
    };
    let mut notes = run.notes;
    let bound = Duration::from_millis(args.settle_ms);
    let (client_time_wait, server_time_wait) = match placement::settled(
        endpoint.port,
        &run.connections,
        bound,
    )
    .await
    {
        Ok(placement) => {
            if !placement.settled {
                notes.push(format!(
                    "some connections were still closing after {bound:?}: counts may be low"
                ));
            }
            if placement.server.is_none() {
                notes.push(format!(
                        "nothing listens on port {} here: the server's TIME_WAIT is not counted (only a local server's can be)",
                        endpoint.port
                    ));
            }
            (Some(placement.client), placement.server)
        }
        Err(error) => {
            notes.push(format!("census failed, TIME_WAIT not counted: {error}"));
            (None, None)
        }
    };
    let outcome = &run.outcome;
    let row = Row {
        scenario: args.client.scenario(),
        requests: outcome.requests,
        errors: outcome.errors,
        seconds: round(outcome.elapsed.as_secs_f64(), 1e3),
        req_per_sec: round(outcome.req_per_sec(), 10.0),
        p50_us: outcome.latency_us(0.50),
        p99_us: outcome.latency_us(0.99),
        connects: run.connects,
        client_time_wait,
        server_time_wait,
    };
    if let Some(error) = &outcome.first_error {
        notes.push(format!("first error: {error}"));
    }
    if args.json {
        println!("{}", serde_json::to_string(&row)?);
        for note in &notes {
            eprintln!("{note}");
        }
    } else {
        print_table(&row, &notes);
    }
    let nothing_worked = outcome.requests > 0 && outcome.errors == outcome.requests;
    Ok(if nothing_worked {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn settings(args: &Args) -> Settings {
    let ms = Duration::from_millis;
    Settings {
        max_uses: (args.max_uses > 0).then_some(args.max_uses),
        max_lifetime: args.max_lifetime_ms.map(ms),
        server_keep_alive: args.peer_keep_alive_ms.map(ms),
        margin: Some(ms(args.keep_alive_margin_ms)),
        grace: args.grace_ms.map(ms),
    }
}

fn round(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

fn print_table(row: &Row, notes: &[String]) {
    let count = |n: Option<usize>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    println!(
        "{:<18} {:>9} {:>7} {:>8} {:>10} {:>8} {:>8} {:>9} {:>10} {:>10}",
        "scenario",
        "requests",
        "errors",
        "seconds",
        "req/s",
        "p50_us",
        "p99_us",
        "connects",
        "client_tw",
        "server_tw"
    );
    println!(
        "{:<18} {:>9} {:>7} {:>8.3} {:>10.1} {:>8} {:>8} {:>9} {:>10} {:>10}",
        row.scenario,
        row.requests,
        row.errors,
        row.seconds,
        row.req_per_sec,
        row.p50_us,
        row.p99_us,
        row.connects,
        count(row.client_time_wait),
        count(row.server_time_wait)
    );
    for note in notes {
        println!("  {note}");
    }
}
