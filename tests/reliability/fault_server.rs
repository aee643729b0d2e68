//! A line server that misbehaves on command: it resets or closes its
//! connections, stops answering, stops reading, goes away and comes back on
//! the same address.
//!
//! The protocol is the echo protocol's with two additions: the line `HOLD`
//! is read and never answered (a request in flight for as long as the test
//! wants), and the reply can carry the server's generation (so a client can
//! tell an old server's connection from a new one's) or the first line the
//! connection carried (so a client can tell which key a connection was made
//! for).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// What the server answers to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The line itself.
    Echo,
    /// `g<generation> <line>`.
    Tagged,
    /// The first line the connection carried, whatever the line now: a
    /// connection made for key `k` whose first line was `k` always answers
    /// `k`.
    Sticky,
}

/// How the server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Reads lines and answers them; `QUIT` closes the connection.
    Answer,
    /// Reads and discards everything, `QUIT` included, and never answers or
    /// closes: a peer that accepts and then says nothing.
    Silent,
    /// Never reads: the client's writes fill the buffers.
    Stalled,
}

/// How the server ends connections it was told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    /// A normal close: the server sends the first FIN.
    Close,
    /// An abortive close (`SO_LINGER` 0): the server sends a RST.
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Serve,
    /// End every connection open now; the number makes each one a change.
    Hangup(Hangup, u64),
    Stop(Hangup),
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub lines: AtomicU64,
    pub holds: AtomicU64,
    pub quit: AtomicU64,
    pub hung_up: AtomicU64,
    pub client_closed: AtomicU64,
    pub client_reset: AtomicU64,
    pub failed: AtomicU64,
    changed: Notify,
}

impl Counters {
    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Acquire)
    }

    /// Connections that ended, however they ended.
    pub fn ended(&self) -> u64 {
        [
            &self.quit,
            &self.hung_up,
            &self.client_closed,
            &self.client_reset,
            &self.failed,
        ]
        .into_iter()
        .map(Counters::get)
        .sum()
    }

    /// Waits, up to `within`, until `done` holds; panics naming `what`
    /// otherwise.
    pub async fn wait_for(&self, what: &str, within: Duration, done: impl Fn(&Counters) -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if done(self) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(within, wait).await.is_err() {
            panic!("the server never saw {what} within {within:?}: {self:?}");
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    reply: Reply,
    reading: Reading,
    generation: u64,
}

/// A running misbehaving server. Dropping it aborts its tasks, which closes
/// its sockets.
#[derive(Debug)]
pub struct FaultServer {
    addr: SocketAddr,
    reply: Reply,
    reading: Reading,
    generation: u64,
    counters: Arc<Counters>,
    commands: watch::Sender<Command>,
    task: Option<JoinHandle<()>>,
}

impl FaultServer {
    /// A server on a fresh loopback port (one no other socket mentions).
    pub async fn start(reply: Reply, reading: Reading) -> FaultServer {
        let listener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        FaultServer::on(listener, reply, reading, 1, Arc::new(Counters::default()))
    }

    fn on(
        listener: TcpListener,
        reply: Reply,
        reading: Reading,
        generation: u64,
        counters: Arc<Counters>,
    ) -> FaultServer {
        let addr = listener.local_addr().unwrap();
        let (commands, task) = spawn(listener, reply, reading, generation, counters.clone());
        FaultServer {
            addr,
            reply,
            reading,
            generation,
            counters,
            commands,
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Ends every connection open now, as `how` says; keeps accepting.
    pub fn hang_up(&self, how: Hangup) {
        self.commands.send_modify(|c| {
            let n = match *c {
                Command::Hangup(_, n) => n.wrapping_add(1),
                _ => 0,
            };
            *c = Command::Hangup(how, n);
        });
    }

    /// Goes away: stops accepting, ends every connection as `how` says, and
    /// waits until its sockets are closed.
    pub async fn stop(&mut self, how: Hangup) {
        self.commands.send_replace(Command::Stop(how));
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Comes back on the same address, as the next generation (same
    /// counters). The port may still be the local port of the old server's
    /// closing sockets, so the new listener sets `SO_REUSEADDR`.
    pub async fn restart(&mut self) {
        assert!(self.task.is_none(), "stop the server before restarting it");
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(1024).unwrap();
        self.generation += 1;
        let (commands, task) = spawn(
            listener,
            self.reply,
            self.reading,
            self.generation,
            self.counters.clone(),
        );
        self.commands = commands;
        self.task = Some(task);
    }
}

fn spawn(
    listener: TcpListener,
    reply: Reply,
    reading: Reading,
    generation: u64,
    counters: Arc<Counters>,
) -> (watch::Sender<Command>, JoinHandle<()>) {
    let (commands, rx) = watch::channel(Command::Serve);
    let settings = Settings {
        reply,
        reading,
        generation,
    };
    let task = tokio::spawn(accept_loop(listener, settings, counters, rx));
    (commands, task)
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    settings: Settings,
    counters: Arc<Counters>,
    mut commands: watch::Receiver<Command>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    counters.bump(&counters.accepted);
                    let mut commands = commands.clone();
                    // Only commands given after the connection arrived apply.
                    commands.borrow_and_update();
                    let counters = counters.clone();
                    connections.spawn(async move {
                        let ended = serve(stream, settings, &counters, commands).await;
                        counters.bump(ended(&counters));
                    });
                }
                Err(_) => counters.bump(&counters.failed),
            },
            changed = commands.changed() => {
                let stop = matches!(*commands.borrow_and_update(), Command::Stop(_));
                if changed.is_err() || stop {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Every connection task saw the same Stop and ends its connection.
    while connections.join_next().await.is_some() {}
}

/// Which counter a connection's end goes to.
type Ended = fn(&Counters) -> &AtomicU64;

async fn serve(
    stream: TcpStream,
    settings: Settings,
    counters: &Counters,
    mut commands: watch::Receiver<Command>,
) -> Ended {
    let mut stream = BufReader::new(stream);
    let mut first: Option<Vec<u8>> = None;
    let mut holding = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = async {
            if settings.reading == Reading::Stalled || holding {
                std::future::pending::<()>().await;
            }
            stream.read_until(b'\n', &mut line).await
        };
        let read = tokio::select! {
            read = read => read,
            changed = commands.changed() => {
                let how = match (changed, *commands.borrow_and_update()) {
                    (Err(_), _) => Hangup::Close,
                    (Ok(()), Command::Hangup(how, _) | Command::Stop(how)) => how,
                    (Ok(()), Command::Serve) => continue,
                };
                return hang_up(stream.into_inner(), how);
            }
        };
        let n = match read {
            Ok(n) => n,
            Err(e) => return io_end(&e),
        };
        if n == 0 || line.last() != Some(&b'\n') {
            return |c| &c.client_closed;
        }
        counters.bump(&counters.lines);
        if settings.reading == Reading::Silent {
            continue;
        }
        if line == b"QUIT\n" {
            return match stream.flush().await {
                Ok(()) => |c| &c.quit,
                Err(e) => io_end(&e),
            };
        }
        if line == b"HOLD\n" {
            counters.bump(&counters.holds);
            holding = true;
            continue;
        }
        let identity = first.get_or_insert_with(|| line.clone());
        let reply = match settings.reply {
            Reply::Echo => line.clone(),
            Reply::Tagged => [format!("g{} ", settings.generation).as_bytes(), &line].concat(),
            Reply::Sticky => identity.clone(),
        };
        if let Err(e) = stream.write_all(&reply).await {
            return io_end(&e);
        }
    }
}

fn hang_up(stream: TcpStream, how: Hangup) -> Ended {
    if how == Hangup::Reset {
        // Dropping a socket with SO_LINGER 0 sends a RST.
        if stream.set_zero_linger().is_err() {
            return |c| &c.failed;
        }
    }
    drop(stream);
    |c| &c.hung_up
}

fn io_end(error: &io::Error) -> Ended {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => |c| &c.client_reset,
        _ => |c| &c.failed,
    }
}
