//! What the reliability suite shares: servers that misbehave on command, a
//! count of the process's file descriptors and memory, a seeded random
//! source, in-memory connections for paused-time tests, and network
//! namespaces for what loopback hides.
//!
//! Each test file includes it with `mod reliability;` and uses a part.
#![allow(dead_code, unreachable_pub)]

pub mod fault_server;
pub mod memory;
pub mod netns;
pub mod process;
pub mod rng;
pub mod tagged_server;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;

use timewait::pool::{FarewellMessage, Pool, PoolBuilder, TcpConnector, WithConnector};
use timewait_echo::{EchoHandle, EchoServer, OnQuit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A builder of a pool of loopback TCP connections that says `QUIT` (a
/// line) before it closes one, so that a [`quit_echo_server`] closes first.
/// A test adds its own limits and builds it.
pub fn quit_pool_builder() -> PoolBuilder<SocketAddr, TcpStream, WithConnector<TcpConnector>> {
    Pool::builder(TcpConnector::new()).farewell(FarewellMessage::new(&b"QUIT\n"[..]))
}

/// An echo server on a fresh loopback port that closes a connection on a
/// `QUIT` line, without an answer.
pub async fn quit_echo_server() -> EchoHandle {
    let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    EchoServer::new(listener).on_quit(OnQuit::Close).spawn()
}

/// Sends `line` (a newline is added) and reads one reply line, without the
/// newline. One request is outstanding at a time, so nothing after the reply
/// can be in the stream. End of file before a whole line is
/// `UnexpectedEof`.
pub async fn request<S>(io: &mut S, line: &str) -> io::Result<String>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    io.write_all(format!("{line}\n").as_bytes()).await?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 256];
    loop {
        let n = io.read(&mut byte).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server closed after {} bytes of a reply", reply.len()),
            ));
        }
        reply.extend_from_slice(&byte[..n]);
        if reply.last() == Some(&b'\n') {
            reply.pop();
            return String::from_utf8(reply)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

/// Polls `future` once: its output if it was ready. Dropping the future
/// afterwards cancels it at whatever point that one poll reached.
pub async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of a file one at a time, for those that count the
/// process's descriptors or tasks: another test's runtime or sockets would
/// be counted too. Take it before building the test's runtime (a runtime
/// opens descriptors of its own). A test that failed while holding it does
/// not fail the next.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A current-thread runtime with I/O and time, its clock paused if asked.
pub fn current_thread(paused: bool) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .expect("a tokio runtime")
}

/// A multi-thread runtime with two workers (the machine has two cores).
pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
