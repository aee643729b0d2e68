//! Redis's way to be closed by the server without the deprecated `QUIT`.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Farewell, FarewellFuture};

/// `CLIENT ID`, then `CLIENT KILL ID <that id> SKIPME no`: Redis closes the
/// very connection that asked, first, after its reply. The successor of
/// [`RedisQuit`](super::protocols::RedisQuit) for Redis 7.2 and later,
/// where `QUIT` is deprecated.
///
/// `CLIENT KILL` with `SKIPME no` may kill the calling client (Redis's
/// documentation of `CLIENT KILL`: `SKIPME` defaults to `yes`); the server
/// marks it to be closed after the reply, so its FIN comes first and the
/// TIME_WAIT entry is the server's. Needs `CLIENT ID` (Redis 5.0) and
/// permission to run `CLIENT KILL` (an ACL user without `+client|kill`
/// cannot; use [`RedisQuit`](super::protocols::RedisQuit) or the server's
/// `timeout` then). Two round trips instead of one.
///
/// ```
/// use timewait_pool::farewells::RedisClientKillSelf;
/// use timewait_pool::{Pool, TcpConnector};
///
/// let pool = Pool::<std::net::SocketAddr, _, tokio::net::TcpStream>::builder(TcpConnector::new())
///     .farewell(RedisClientKillSelf)
///     .build()?;
/// # Ok::<(), timewait_pool::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RedisClientKillSelf;

/// The longest reply line to `CLIENT ID` read: `:` and a 64-bit integer.
const MAX_REPLY: usize = 32;

impl<K, C> Farewell<K, C> for RedisClientKillSelf
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn say<'a>(&'a self, _key: &'a K, conn: &'a mut C) -> FarewellFuture<'a> {
        Box::pin(async move {
            conn.write_all(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
                .await?;
            conn.flush().await?;
            let id = read_integer_reply(conn).await?;
            let id = id.to_string();
            let kill = format!(
                "*6\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$2\r\nID\r\n${}\r\n{id}\r\n$6\r\nSKIPME\r\n$2\r\nno\r\n",
                id.len()
            );
            conn.write_all(kill.as_bytes()).await?;
            conn.flush().await
        })
    }
}

/// Reads one RESP integer reply (`:<n>\r\n`) byte by byte, so that nothing
/// after it is consumed.
async fn read_integer_reply<C: AsyncRead + Unpin>(conn: &mut C) -> io::Result<i64> {
    let mut line = Vec::with_capacity(MAX_REPLY);
    while !line.ends_with(b"\r\n") {
        if line.len() >= MAX_REPLY {
            return Err(invalid("a CLIENT ID reply longer than an integer"));
        }
        line.push(conn.read_u8().await?);
    }
    let digits = line
        .strip_prefix(b":")
        .and_then(|rest| rest.strip_suffix(b"\r\n"))
        .ok_or_else(|| invalid("CLIENT ID answered with something else than an integer"))?;
    std::str::from_utf8(digits)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| invalid("CLIENT ID answered a malformed integer"))
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_id_reply_is_read_up_to_its_crlf_and_no_further() {
        let mut input: &[u8] = b":42\r\n+OK\r\n";
        assert_eq!(read_integer_reply(&mut input).await.unwrap(), 42);
        assert_eq!(input, b"+OK\r\n");
    }

    #[tokio::test]
    async fn a_reply_that_is_not_an_integer_is_an_error() {
        for reply in [
            &b"-ERR no\r\n"[..],
            b":4x\r\n",
            b":123456789012345678901234567890\r\n",
        ] {
            let mut input = reply;
            assert!(read_integer_reply(&mut input).await.is_err(), "{reply:?}");
        }
    }
}
