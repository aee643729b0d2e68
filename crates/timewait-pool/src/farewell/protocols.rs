//! Farewells of common protocols: each asks the server, in its own
//! protocol, to close the connection, so that TIME_WAIT lands on the
//! server.
//!
//! Each is a unit value to give to
//! [`PoolBuilder::farewell`](crate::PoolBuilder::farewell); each writes its
//! bytes and flushes them, and the pool then reads until the server's FIN
//! (discarding the acknowledgement: `+OK`, `221`, the IMAP `BYE`), within
//! the grace period. The pool says a farewell only on a connection between
//! exchanges, never after a request left unanswered.
//!
//! | protocol | farewell | what the server does, by its specification |
//! | --- | --- | --- |
//! | Redis (RESP) | [`RedisQuit`]: `QUIT` | replies `+OK` and closes (deprecated since Redis 7.2; see [`RedisClientKillSelf`]) |
//! | memcached (text) | [`MemcachedQuit`]: `quit` | closes, with no reply |
//! | PostgreSQL (v3) | [`PostgresTerminate`]: `Terminate` (`X`) | the backend exits and closes |
//! | SMTP | [`SmtpQuit`]: `QUIT` | replies `221` and closes (RFC 5321 §4.1.1.10) |
//! | POP3 | [`Pop3Quit`]: `QUIT` | replies `+OK` (after its UPDATE state) and closes (RFC 1939 §6) |
//! | IMAP | [`ImapLogout`]: `LOGOUT` | sends `* BYE`, the tagged `OK`, and closes (RFC 9051 §6.1.3) |
//! | HTTP/1.1 | `Connection: close` on the last request | closes after its response (RFC 9112 §9.6) |
//!
//! Protocols with no such message (MongoDB's wire protocol, Kafka, DNS over
//! TCP, HTTP/2, whose `GOAWAY` tells a peer to open no more streams but
//! not to close first) leave two ways: the server's own idle timeout, given
//! to [`PoolBuilder::peer_keep_alive`](crate::PoolBuilder::peer_keep_alive)
//! so the pool stops lending a connection before it and waits for the
//! server's close (Redis's `timeout`, memcached's `idle_timeout`,
//! PostgreSQL's `idle_session_timeout` work the same way, all off by
//! default); or, when the server never closes idle connections,
//! [`ClosePolicy::Local`](crate::ClosePolicy::Local), every close charged
//! to the port budget. A farewell that is ignored ends, after the grace, in
//! the [`Fallback`](crate::Fallback).
//!
//! ```
//! use timewait_pool::farewells::RedisQuit;
//! use timewait_pool::{Pool, TcpConnector};
//!
//! let pool = Pool::<std::net::SocketAddr, _, tokio::net::TcpStream>::builder(TcpConnector::new())
//!     .farewell(RedisQuit)
//!     .build()?;
//! assert_eq!(RedisQuit.bytes(), b"*1\r\n$4\r\nQUIT\r\n");
//! # Ok::<(), timewait_pool::ConfigError>(())
//! ```

use tokio::io::{AsyncWrite, AsyncWriteExt};

pub use super::RedisClientKillSelf;
use super::{Farewell, FarewellFuture};

/// Writes `bytes` and flushes them.
fn say<'a, C>(conn: &'a mut C, bytes: &'static [u8]) -> FarewellFuture<'a>
where
    C: AsyncWrite + Unpin + Send,
{
    Box::pin(async move {
        conn.write_all(bytes).await?;
        conn.flush().await
    })
}

/// Defines a farewell of fixed bytes: the type, its `bytes()` and its
/// [`Farewell`] impl.
macro_rules! fixed_farewell {
    ($(#[$doc:meta])* $name:ident = $bytes:expr;) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl $name {
            /// The bytes this farewell sends.
            pub const BYTES: &'static [u8] = $bytes;

            /// The bytes this farewell sends.
            pub fn bytes(self) -> &'static [u8] {
                Self::BYTES
            }
        }

        impl<K, C> Farewell<K, C> for $name
        where
            C: AsyncWrite + Unpin + Send + 'static,
        {
            fn say<'a>(&'a self, _key: &'a K, conn: &'a mut C) -> FarewellFuture<'a> {
                say(conn, Self::BYTES)
            }
        }
    };
}

fixed_farewell! {
    /// Redis's `QUIT`, as a RESP array: `*1\r\n$4\r\nQUIT\r\n`.
    ///
    /// The server replies `+OK` and closes the connection once the reply is
    /// written: TIME_WAIT on the server. (Redis's documentation of `QUIT`.)
    ///
    /// Deprecated since Redis 7.2.0, which still implements it: Redis now
    /// tells clients to just close the connection, which leaves TIME_WAIT
    /// on the client. To keep it on the server without `QUIT`, use
    /// [`RedisClientKillSelf`] (the server closes the client that asked), or
    /// set the server's `timeout` and give it to
    /// [`PoolBuilder::peer_keep_alive`](crate::PoolBuilder::peer_keep_alive).
    RedisQuit = b"*1\r\n$4\r\nQUIT\r\n";
}

fixed_farewell! {
    /// memcached's `quit\r\n`.
    ///
    /// "Upon receiving this command, the server closes the connection",
    /// with no reply (memcached's `protocol.txt`): TIME_WAIT on the server.
    MemcachedQuit = b"quit\r\n";
}

fixed_farewell! {
    /// PostgreSQL's `Terminate` message: `X` and its length, 4
    /// (`X\0\0\0\x04`).
    ///
    /// "On receipt of this message, the backend closes the connection and
    /// terminates" (PostgreSQL's protocol 3.0, *Termination*). The
    /// documentation has the frontend close at once too; the pool instead
    /// waits for the backend's FIN, so TIME_WAIT lands on the server. Say it
    /// only outside a transaction block: a backend that is in one rolls it
    /// back.
    PostgresTerminate = b"X\0\0\0\x04";
}

fixed_farewell! {
    /// SMTP's `QUIT\r\n`.
    ///
    /// "The receiver MUST send a \"221 OK\" reply, and then close the
    /// transmission channel" (RFC 5321 §4.1.1.10); a mail transaction in
    /// progress is aborted.
    SmtpQuit = b"QUIT\r\n";
}

fixed_farewell! {
    /// POP3's `QUIT\r\n`.
    ///
    /// In the TRANSACTION state the server enters UPDATE (it removes the
    /// messages marked as deleted), replies `+OK` and closes the TCP
    /// connection; in AUTHORIZATION it replies `+OK` and closes (RFC 1939
    /// §6 and §4).
    Pop3Quit = b"QUIT\r\n";
}

fixed_farewell! {
    /// IMAP's `LOGOUT`, with the tag `tw0`: `tw0 LOGOUT\r\n`.
    ///
    /// "The server MUST send a BYE untagged response before the (tagged) OK
    /// response, and then close the network connection" (RFC 9051 §6.1.3,
    /// as RFC 3501 §6.1.3). The pool says it between exchanges, so no
    /// command of the borrower with the same tag is in flight.
    ImapLogout = b"tw0 LOGOUT\r\n";
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::io::Builder;

    /// Says `farewell` on a scripted connection that expects exactly
    /// `bytes`: the script fails the test on any other write.
    async fn says(farewell: impl Farewell<(), tokio_test::io::Mock>, bytes: &[u8]) {
        let mut conn = Builder::new().write(bytes).build();
        farewell.say(&(), &mut conn).await.unwrap();
    }

    #[tokio::test]
    async fn each_protocol_farewell_writes_exactly_its_message() {
        says(RedisQuit, b"*1\r\n$4\r\nQUIT\r\n").await;
        says(MemcachedQuit, b"quit\r\n").await;
        says(PostgresTerminate, &[b'X', 0, 0, 0, 4]).await;
        says(SmtpQuit, b"QUIT\r\n").await;
        says(Pop3Quit, b"QUIT\r\n").await;
        says(ImapLogout, b"tw0 LOGOUT\r\n").await;
    }

    #[tokio::test]
    async fn client_kill_asks_for_its_own_id_then_kills_that_client_only() {
        let kill = b"*6\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$2\r\nID\r\n$2\r\n17\r\n$6\r\nSKIPME\r\n$2\r\nno\r\n";
        let mut conn = Builder::new()
            .write(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
            .read(b":17\r\n")
            .write(kill)
            .build();
        RedisClientKillSelf.say(&(), &mut conn).await.unwrap();
    }
}
