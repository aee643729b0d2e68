//! Where a benchmark's TIME_WAIT entries landed, as the kernel shows them.

use std::net::SocketAddr;
use std::time::Duration;

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
