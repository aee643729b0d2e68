//! What the tests share: the kernel's count of TIME_WAIT per side, the
//! farewell and the kill-and-restart tests every server has, and (`codec`)
//! feeding a decoder in pieces.
#![allow(dead_code)] // each test file uses its own part

pub(crate) mod codec;

use std::net::SocketAddr;
use std::time::Duration;

use timewait_echo::{TimeWaitSides, settled_time_wait};
use timewait_servers::{Memcached, Nginx, Postgres, Redis, ServerError};

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

/// Asserts the connections to `server` left one TIME_WAIT entry each on the
/// server, `connections` in all, and none on the client.
pub(crate) async fn assert_all_on_the_server(server: SocketAddr, connections: usize) {
    assert_eq!(sides(server).await, all_on_the_server(connections));
}

/// The probes that find a server ready leave no TIME_WAIT on either side.
pub(crate) async fn assert_probes_left_nothing(server: SocketAddr) {
    assert_eq!(
        sides(server).await,
        TimeWaitSides::default(),
        "the readiness probes left TIME_WAIT behind"
    );
}

/// The farewell test every server has: the readiness probes left nothing,
/// then [`CONNECTIONS`] connections each end with `farewell`, which makes the
/// server close first and waits for its FIN; that leaves one TIME_WAIT entry
/// per connection on the server and none on the client.
pub(crate) async fn assert_farewells_leave_time_wait_on_the_server(
    server: SocketAddr,
    farewell: impl AsyncFn(),
) {
    assert_probes_left_nothing(server).await;
    for _ in 0..CONNECTIONS {
        farewell().await;
    }
    assert_all_on_the_server(server, CONNECTIONS).await;
}

/// What the kill-and-restart test needs of a server: its own methods.
pub(crate) trait Server {
    fn addr(&self) -> SocketAddr;
    fn kill(&mut self) -> Result<(), ServerError>;
    async fn restart(&mut self) -> Result<(), ServerError>;
}

macro_rules! server {
    ($($server:ty),*) => {$(
        impl Server for $server {
            fn addr(&self) -> SocketAddr {
                <$server>::addr(self)
            }
            fn kill(&mut self) -> Result<(), ServerError> {
                <$server>::kill(self)
            }
            async fn restart(&mut self) -> Result<(), ServerError> {
                <$server>::restart(self).await
            }
        }
    )*};
}
server!(Redis, Memcached, Postgres, Nginx);

/// The kill-and-restart test every server has: a connection that works
/// (`connect` makes one and checks an exchange on it), the kill, `closed`
/// asserts the kernel closed the killed server's end of it; the restart is
/// on the same address, and three new connections work.
pub(crate) async fn assert_serves_again_after_kill_and_restart<S: Server, C>(
    server: &mut S,
    connect: impl AsyncFn(&S) -> C,
    closed: impl AsyncFnOnce(C),
) {
    let addr = server.addr();
    let before = connect(server).await;
    server.kill().unwrap();
    closed(before).await;
    server.restart().await.unwrap();
    assert_eq!(server.addr(), addr);
    for _ in 0..3 {
        connect(server).await;
    }
}
