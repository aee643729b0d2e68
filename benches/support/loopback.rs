//! What the loopback groups (`echo/loopback`, `http/loopback`) share: 8
//! clients on a 2-worker runtime, the groups' timing, and where each id's
//! TIME_WAIT entries landed, as the kernel shows them.

use std::net::SocketAddr;
use std::time::Duration;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;

/// Concurrent clients, and so the connections a pool or a client holds.
pub(crate) const CLIENTS: usize = 8;
/// The runtime's workers, shared by the in-process server and the clients.
pub(crate) const WORKERS: usize = 2;

/// How long the kernel may take to finish the closes of a run.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// Prints the TIME_WAIT entries of `server`'s connections on each side, once
/// every close has finished: `benchmark` left them if `server` served it
/// alone, from a port no earlier socket mentioned.
pub(crate) async fn print_time_wait(benchmark: &str, server: SocketAddr) {
    match timewait_echo::settled_time_wait(server, SETTLE_WITHIN).await {
        Ok(sides) => eprintln!(
            "{benchmark}: TIME_WAIT entries left: {} on the client side, {} on the server side",
            sides.client, sides.server
        ),
        Err(error) => eprintln!("{benchmark}: TIME_WAIT entries not counted: {error}"),
    }
}

/// A request takes microseconds: a few seconds give 30 samples of thousands.
pub(crate) fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
}
