//! What the tests share: the kernel's count of TIME_WAIT per side, how
//! many connections each farewell test makes, and (`codec`) feeding a
//! decoder in pieces.
#![allow(dead_code)] // each test file uses its own part

pub(crate) mod codec;

use std::net::SocketAddr;
use std::time::Duration;

use timewait_echo::{TimeWaitSides, settled_time_wait};

/// Connections each farewell test opens and ends.
pub(crate) const CONNECTIONS: usize = 5;

/// A bound only a failure reaches.
const SETTLE: Duration = Duration::from_secs(10);

/// TIME_WAIT entries of the connections to `server`, once every one of them
/// has finished closing.
pub(crate) async fn sides(server: SocketAddr) -> TimeWaitSides {
    settled_time_wait(server, SETTLE).await.unwrap()
}

/// What a farewell that makes the server close first must leave: one
/// TIME_WAIT entry on the server per connection, none on the client.
pub(crate) fn all_on_the_server(connections: usize) -> TimeWaitSides {
    TimeWaitSides {
        server: connections,
        client: 0,
    }
}

/// The probes that find a server ready leave no TIME_WAIT on either side.
pub(crate) async fn assert_probes_left_nothing(server: SocketAddr) {
    assert_eq!(
        sides(server).await,
        TimeWaitSides::default(),
        "the readiness probes left TIME_WAIT behind"
    );
}
