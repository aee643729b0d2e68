//! The client side of the protocol: one exchange, the farewell, and the
//! connect-per-request pattern many clients follow.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The farewell line: the server closes the connection when it reads it.
pub const QUIT: &[u8] = b"QUIT\n";

/// Sends `line` (one line, ending in `\n`) and reads its echo into `reply`
/// (cleared first).
///
/// Errors: `InvalidInput` if `line` is not exactly one newline-terminated
/// line, `UnexpectedEof` if the server closed before echoing all of it,
/// `InvalidData` if the echo differs, and any I/O error of the connection.
///
/// ```
/// # use timewait_echo::{EchoServer, exchange};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// # let server = EchoServer::bind("127.0.0.1:0".parse().unwrap()).await?.spawn();
/// let mut conn = tokio::net::TcpStream::connect(server.local_addr()).await?;
/// let mut reply = Vec::new();
/// exchange(&mut conn, b"ping\n", &mut reply).await?;
/// assert_eq!(reply, b"ping\n");
/// let not_a_line = exchange(&mut conn, b"no newline", &mut reply).await;
/// assert_eq!(not_a_line.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
/// # Ok(()) }
/// ```
pub async fn exchange<S>(io: &mut S, line: &[u8], reply: &mut Vec<u8>) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    check_line(line)?;
    io.write_all(line).await?;
    reply.clear();
    reply.resize(line.len(), 0);
    // The echo is exactly as long as the line: one outstanding request per
    // connection, so nothing after it can be in the stream.
    io.read_exact(reply).await?;
    if reply.as_slice() != line {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server's reply is not the line sent",
        ));
    }
    Ok(())
}

/// Sends [`QUIT`] and reads until the server's FIN, discarding anything
/// before it, so that the caller's close is the passive one. Returns the
/// bytes discarded.
pub async fn quit_and_wait_for_close<S>(io: &mut S) -> io::Result<usize>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    io.write_all(QUIT).await?;
    io.flush().await?;
    let mut discarded = 0;
    let mut buf = [0u8; 512];
    loop {
        match io.read(&mut buf).await? {
            0 => return Ok(discarded),
            n => discarded += n,
        }
    }
}

/// What many clients do: connect to `server`, make one exchange, and close.
/// The client closes first, so the connection's TIME_WAIT entry is the
/// client's, holding one of its ephemeral ports for 2×MSL.
pub async fn connect_and_exchange(
    server: SocketAddr,
    line: &[u8],
    reply: &mut Vec<u8>,
) -> io::Result<()> {
    let mut conn = TcpStream::connect(server).await?;
    conn.set_nodelay(true)?;
    exchange(&mut conn, line, reply).await
    // Dropping `conn` sends the first FIN.
}

fn check_line(line: &[u8]) -> io::Result<()> {
    match line.iter().position(|&b| b == b'\n') {
        Some(end) if end + 1 == line.len() && line.len() <= crate::MAX_LINE => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an echo request is one line ending in \\n, at most MAX_LINE bytes",
        )),
    }
}
