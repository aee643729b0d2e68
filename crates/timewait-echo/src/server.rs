//! The echo server: one task per connection, closing first on `QUIT`, on its
//! idle timeout and on hang-up.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::stats::{Counters, EchoStats, Ending};

/// How long a connection may stay idle before the server closes it, unless
/// configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest line the server echoes, newline included; a longer one ends
/// the connection with [`Ending::Failed`]`(InvalidData)`.
pub const MAX_LINE: usize = 64 * 1024;

/// After an `accept` error (out of file descriptors, say), the server waits
/// this long before accepting again, rather than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What the server does with the line `QUIT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnQuit {
    /// Close the connection at once: the server sends the first FIN.
    #[default]
    Close,
    /// Ignore it (and echo nothing): a server that never honours a farewell,
    /// for tests of a client's fallback.
    Ignore,
}

/// A newline-delimited echo server that closes first.
///
/// Configure it, then [`spawn`](EchoServer::spawn) it on the current tokio
/// runtime; the returned [`EchoHandle`] gives its address, its counters and a
/// graceful shutdown.
///
/// ```
/// use std::time::Duration;
/// use timewait_echo::{EchoServer, OnQuit};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let server = EchoServer::bind("127.0.0.1:0".parse().unwrap())
///     .await?
///     .idle_timeout(Some(Duration::from_secs(5)))
///     .on_quit(OnQuit::Close)
///     .spawn();
/// println!("echoing on {}", server.local_addr());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EchoServer {
    listener: TcpListener,
    idle_timeout: Option<Duration>,
    on_quit: OnQuit,
}

/// The settings every connection task of a server gets.
#[derive(Debug, Clone, Copy)]
struct Settings {
    idle_timeout: Option<Duration>,
    on_quit: OnQuit,
}

impl EchoServer {
    /// A server listening on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> io::Result<EchoServer> {
        Ok(EchoServer::new(TcpListener::bind(addr).await?))
    }

    /// A server on a listener the caller bound (see
    /// [`fresh_listener`](crate::fresh_listener)).
    pub fn new(listener: TcpListener) -> EchoServer {
        EchoServer {
            listener,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            on_quit: OnQuit::Close,
        }
    }

    /// Closes connections idle this long; `None` keeps them open forever.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> EchoServer {
        self.idle_timeout = timeout;
        self
    }

    /// What to do with the line `QUIT`.
    pub fn on_quit(mut self, on_quit: OnQuit) -> EchoServer {
        self.on_quit = on_quit;
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts accepting on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    pub fn spawn(self) -> EchoHandle {
        // The listener was bound, so it has an address; if the kernel cannot
        // say it, the unspecified address tells the caller as much.
        let addr = self
            .listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let counters = Arc::new(Counters::default());
        let (signal, signals) = watch::channel(Signal::Serve);
        let settings = Settings {
            idle_timeout: self.idle_timeout,
            on_quit: self.on_quit,
        };
        let task = tokio::spawn(accept_loop(
            self.listener,
            settings,
            Arc::clone(&counters),
            signals,
        ));
        EchoHandle {
            addr,
            counters,
            signal,
            task: Some(task),
        }
    }
}

/// What the handle tells the server's tasks. Each change is one command:
/// connection tasks act on changes made after they started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Serve,
    /// Close every connection open now; the count makes each hang-up a change.
    HangUp(u64),
    /// Stop accepting and close every connection.
    Stop,
}

/// A running [`EchoServer`].
///
/// Dropping the handle stops the server abruptly (its tasks are aborted and
/// its sockets closed); [`shutdown`](EchoHandle::shutdown) closes every
/// connection first, server side first, and waits for them.
#[derive(Debug)]
pub struct EchoHandle {
    addr: SocketAddr,
    counters: Arc<Counters>,
    signal: watch::Sender<Signal>,
    task: Option<JoinHandle<()>>,
}

impl EchoHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's counters now.
    pub fn stats(&self) -> EchoStats {
        self.counters.snapshot()
    }

    /// Closes every connection open now, the server first; keeps accepting.
    pub fn hang_up(&self) {
        self.signal.send_modify(|signal| {
            *signal = match *signal {
                Signal::HangUp(n) => Signal::HangUp(n.wrapping_add(1)),
                Signal::Serve => Signal::HangUp(0),
                Signal::Stop => Signal::Stop,
            }
        });
    }

    /// Waits until at least `n` connections have ended, however they ended.
    /// Wrap it in a timeout: it waits as long as it takes.
    pub async fn ended(&self, n: u64) {
        self.counters.wait_ended(n).await;
    }

    /// Stops accepting, closes every open connection (the server first) and
    /// waits for their tasks; returns the final counters.
    pub async fn shutdown(mut self) -> EchoStats {
        self.signal.send_replace(Signal::Stop);
        if let Some(task) = self.task.take() {
            // A panic in the accept loop is a bug; the counters still say
            // what happened before it.
            if let Err(error) = task.await {
                tracing::error!(%error, "echo server task failed");
            }
        }
        self.counters.snapshot()
    }
}

impl Drop for EchoHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts until told to stop, then waits for the connection tasks, which
/// are owned here so that aborting this task ends them too.
async fn accept_loop(
    listener: TcpListener,
    settings: Settings,
    counters: Arc<Counters>,
    mut signals: watch::Receiver<Signal>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    counters.accepted();
                    let mut signals = signals.clone();
                    // Only commands given after this connection arrived apply.
                    signals.borrow_and_update();
                    let counters = Arc::clone(&counters);
                    connections.spawn(async move {
                        let ending = serve(stream, settings, &counters, signals).await;
                        tracing::debug!(%peer, ?ending, "connection ended");
                        counters.ended(ending);
                    });
                }
                Err(error) => {
                    counters.accept_error();
                    tracing::warn!(%error, "accept failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            changed = signals.changed() => {
                if changed.is_err() || *signals.borrow_and_update() == Signal::Stop {
                    break;
                }
            }
            // Reap finished tasks so the set does not grow with every
            // connection ever accepted.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Echoes lines until `QUIT`, the idle timeout, a hang-up, the client's
/// close or an error. Returning drops the socket: with nothing left unread
/// that sends a FIN, the first one unless the client's came first.
async fn serve(
    stream: TcpStream,
    settings: Settings,
    counters: &Counters,
    mut signals: watch::Receiver<Signal>,
) -> Ending {
    let mut stream = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = async {
            let mut limited = (&mut stream).take(MAX_LINE as u64);
            match settings.idle_timeout {
                Some(idle) => tokio::time::timeout(idle, limited.read_until(b'\n', &mut line))
                    .await
                    .ok(),
                None => Some(limited.read_until(b'\n', &mut line).await),
            }
        };
        let read = tokio::select! {
            read = read => read,
            _ = signals.changed() => return Ending::HungUp,
        };
        match read {
            None => return Ending::IdleTimeout,
            Some(Ok(0)) => return Ending::ClientClosed,
            Some(Ok(_)) if line.last() != Some(&b'\n') => {
                // Either the line hit MAX_LINE or the client closed mid-line.
                return if line.len() >= MAX_LINE {
                    Ending::Failed(io::ErrorKind::InvalidData)
                } else {
                    Ending::ClientClosed
                };
            }
            Some(Ok(_)) if line == crate::QUIT => match settings.on_quit {
                OnQuit::Close => {
                    return match stream.flush().await {
                        Ok(()) => Ending::Quit,
                        Err(e) => io_ending(&e),
                    };
                }
                OnQuit::Ignore => {}
            },
            Some(Ok(_)) => {
                if let Err(e) = stream.write_all(&line).await {
                    return io_ending(&e);
                }
                counters.line();
            }
            Some(Err(e)) => return io_ending(&e),
        }
    }
}

fn io_ending(error: &io::Error) -> Ending {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Ending::Reset,
        kind => Ending::Failed(kind),
    }
}
