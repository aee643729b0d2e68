//! One scenario: its own echo server on a fresh loopback port, the workload,
//! and the kernel's count of where the connections' TIME_WAIT landed.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Serialize;
use timewait::pool::{BoxError, ClosePolicy};
use timewait_echo::{EchoServer, fresh_listener, settled_time_wait};
use tokio::time::Instant;

use crate::sampler::{Sampler, Samples};
use crate::workload::{self, Load, Plan};

/// How long the server may take to see every connection end, and the kernel
/// to finish closing them; only a failure comes near.
const SETTLE: Duration = Duration::from_secs(30);

/// The three ways of sending the same requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Connect, send one line, read the echo, close: the client closes first.
    ConnectPerRequest,
    /// The pool, recycling connections and closing them itself.
    PoolLocal,
    /// The pool, recycling connections and letting the server close first.
    PoolPeerFirst,
}

impl Scenario {
    /// Every scenario, in the order the demo runs them.
    pub(crate) const ALL: [Scenario; 3] = [
        Scenario::ConnectPerRequest,
        Scenario::PoolLocal,
        Scenario::PoolPeerFirst,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::ConnectPerRequest => "connect-per-request",
            Scenario::PoolLocal => "pool-local",
            Scenario::PoolPeerFirst => "pool-peer-first",
        }
    }
}

/// One row of the table, and of `--json`: exactly these keys.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) scenario: &'static str,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) req_per_sec: f64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) connects: u64,
    /// TIME_WAIT entries whose remote address is the server's.
    pub(crate) client_time_wait: usize,
    /// TIME_WAIT entries whose local address is the server's.
    pub(crate) server_time_wait: usize,
}

/// What running a scenario gives.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) row: Row,
    pub(crate) first_error: Option<String>,
    /// TIME_WAIT over time, when sampled.
    pub(crate) samples: Option<Samples>,
}

/// How every scenario runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The pools' maximum connection lifetime.
    pub(crate) max_lifetime: Duration,
    /// Whether to sample TIME_WAIT during the run (for `--plot`).
    pub(crate) sample: bool,
    /// When the demo started: the samples' time origin.
    pub(crate) origin: Instant,
}

/// Runs `scenario` against a server of its own, then counts its TIME_WAIT.
pub(crate) async fn run(
    scenario: Scenario,
    plan: &Plan,
    settings: Settings,
) -> Result<Outcome, BoxError> {
    // A port no other socket mentions: the census by this port counts this
    // scenario's connections and nothing else.
    let listener = fresh_listener(IpAddr::V4(Ipv4Addr::LOCALHOST)).await?;
    let server = EchoServer::new(listener).spawn();
    let addr = server.local_addr();
    let sampler = settings
        .sample
        .then(|| Sampler::start(addr, settings.origin));

    let load: Load = match scenario {
        Scenario::ConnectPerRequest => workload::connect_per_request(addr, plan).await?,
        Scenario::PoolLocal => {
            workload::pooled(addr, ClosePolicy::Local, settings.max_lifetime, plan).await?
        }
        Scenario::PoolPeerFirst => {
            workload::pooled(addr, ClosePolicy::PeerFirst, settings.max_lifetime, plan).await?
        }
    };

    // Every connection the clients made was accepted (each served a
    // request); once the server saw each one end and the kernel finished
    // closing them, the counts are final (until 60 s pass).
    let accepted = server.stats().accepted;
    tokio::time::timeout(SETTLE, server.ended(accepted))
        .await
        .map_err(|_| {
            format!(
                "the server saw only {} of {accepted} connections end within {SETTLE:?}",
                server.stats().ended()
            )
        })?;
    let sides = settled_time_wait(addr, SETTLE).await?;
    let samples = match sampler {
        Some(sampler) => Some(sampler.finish(sides).await),
        None => None,
    };
    server.shutdown().await;

    let seconds = load.elapsed.as_secs_f64();
    let row = Row {
        scenario: scenario.name(),
        requests: plan.requests,
        errors: load.errors,
        seconds,
        // Answered requests per second: failures do not count as served.
        req_per_sec: if seconds > 0.0 {
            plan.requests.saturating_sub(load.errors) as f64 / seconds
        } else {
            0.0
        },
        p50_us: load.quantile_us(0.50),
        p99_us: load.quantile_us(0.99),
        connects: load.connects,
        client_time_wait: sides.client,
        server_time_wait: sides.server,
    };
    Ok(Outcome {
        row,
        first_error: load.first_error,
        samples,
    })
}
