//! One pooled HTTP/1.1 connection: hyper's request sender, the task that
//! drives hyper's connection without ever shutting it down, and a duplicate
//! of the socket's descriptor through which the pool peeks at the socket and
//! reads the server's FIN before it closes.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONNECTION, HeaderValue};
use http::{HeaderMap, Request, Response, Version};
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use socket2::Socket;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::body::Body;
use crate::io::{Io, Mark, Stream, Traffic};
use crate::keep_alive::KeepAlive;

mod retire;

/// An HTTP/1.1 client connection held by the pool.
///
/// hyper's own client connection shuts its write side down when keep-alive
/// ends, which sends the first FIN and leaves TIME_WAIT on the client. This
/// one runs hyper's connection *without shutdown* and keeps a duplicate of
/// the socket's descriptor, so the socket stays open after hyper lets go of
/// it; the pool then reads that descriptor until the server's FIN and only
/// then closes it (a passive close: TIME_WAIT on the server). Over TLS the
/// server's close_notify is read (and discarded) the same way, and this side
/// never writes one.
///
/// It answers the pool's questions from what the server said: a response's
/// `Connection: close` ends its use; `Keep-Alive: timeout=N, max=M` gives
/// [`peer_idle_limit`](timewait_pool::Connection::peer_idle_limit) (N less the client's
/// margin) and [`remaining_uses`](timewait_pool::Connection::remaining_uses) (M).
pub struct HttpConnection {
    /// `None` once the pool waits for the server's close.
    sender: Option<SendRequest<Body>>,
    /// Drives hyper's connection; ends when hyper is done with the socket,
    /// handing the TCP stream back when hyper let go of it in good order.
    task: JoinHandle<Option<TcpStream>>,
    /// The task's output was taken.
    joined: bool,
    socket: Socket,
    local: SocketAddr,
    peer: SocketAddr,
    traffic: Arc<Traffic>,
    /// A request asked the server to close, or a response said it will.
    closing: bool,
    hint: KeepAlive,
    margin: Duration,
    /// When the last exchange ended (the response body's end).
    idle_since: Instant,
    /// The `Host` header of the connection's origin, made once.
    host: Option<HeaderValue>,
    tls: bool,
}

impl HttpConnection {
    /// Makes the HTTP/1.1 connection over `stream` (plain or TLS over
    /// `socket`, a duplicate of its TCP descriptor) and spawns the task that drives it.
    pub(crate) async fn handshake(
        stream: Stream,
        socket: Socket,
        hints: Hints,
        host: Option<HeaderValue>,
    ) -> Result<HttpConnection, crate::connector::ConnectError> {
        use crate::connector::ConnectError;
        let local = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or_else(|| ConnectError::Socket(io::Error::other("no local address")))?;
        let peer = socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or_else(|| ConnectError::Socket(io::Error::other("no peer address")))?;
        let tls = !matches!(stream, Stream::Plain(_));
        let traffic = Arc::new(Traffic::default());
        let io = TokioIo::new(Io::new(stream, traffic.clone()));
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(ConnectError::Handshake)?;
        let task = tokio::spawn(async move {
            // hyper hands the stream back without a FIN (nor a close_notify):
            // the pool reads it until the server's FIN. After an error hyper
            // drops it, which closes its descriptor only; ours keeps the
            // socket open.
            match connection.without_shutdown().await {
                Ok(parts) => Some(parts.io.into_inner().into_tcp()),
                Err(error) => {
                    tracing::debug!(%error, "http connection ended with an error");
                    None
                }
            }
        });
        Ok(HttpConnection {
            sender: Some(sender),
            task,
            joined: false,
            socket,
            local,
            peer,
            traffic,
            closing: false,
            hint: KeepAlive {
                timeout: hints.server_timeout,
                max: None,
            },
            margin: hints.margin,
            idle_since: Instant::now(),
            host,
            tls,
        })
    }

    /// Lets hyper finish with the socket (dropping the sender ends an idle
    /// connection), and takes back the TCP stream it was using, if it gave
    /// it back (registered with the runtime already, so no new
    /// registration is needed to read it).
    pub(crate) async fn join(&mut self) -> Option<TcpStream> {
        self.sender = None;
        if self.joined {
            return None;
        }
        self.joined = true;
        match (&mut self.task).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, "http connection task failed");
                None
            }
        }
    }

    /// The `Host` header of the connection's origin.
    pub(crate) fn host_header(&self) -> Option<&HeaderValue> {
        self.host.as_ref()
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The connection's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// What the server last announced in `Keep-Alive` (its timeout is the
    /// builder's [`server_keep_alive_timeout`](crate::Builder::server_keep_alive_timeout)
    /// until a response says otherwise).
    pub fn keep_alive(&self) -> KeepAlive {
        self.hint
    }

    /// Whether hyper can still carry requests on this connection.
    pub(crate) fn can_send(&self) -> bool {
        !self.closing
            && !self.task.is_finished()
            && self.sender.as_ref().is_some_and(|s| !s.is_closed())
    }

    pub(crate) fn traffic(&self) -> (Arc<Traffic>, Mark) {
        (self.traffic.clone(), self.traffic.mark())
    }

    /// Waits until hyper can take a request, then hands it over.
    /// [`SendError::Unsent`] gives the request back when none of it was
    /// written.
    pub(crate) async fn send(
        &mut self,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, SendError> {
        if asks_to_close(request.headers()) {
            self.closing = true;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(SendError::Unsent(request, None));
        };
        if let Err(error) = sender.ready().await {
            return Err(SendError::Unsent(request, Some(error)));
        }
        sender
            .try_send_request(request)
            .await
            .map_err(
                |mut e: TrySendError<Request<Body>>| match e.take_message() {
                    Some(request) => SendError::Unsent(request, Some(e.into_error())),
                    None => SendError::Failed(e.into_error()),
                },
            )
    }

    /// Takes in what a response's head says of the connection's future.
    pub(crate) fn note_response(&mut self, version: Version, headers: &HeaderMap) {
        // An HTTP/1.0 server keeps the connection only when it says so.
        let old_without_keep_alive = version <= Version::HTTP_10 && !lists(headers, "keep-alive");
        if old_without_keep_alive || asks_to_close(headers) {
            self.closing = true;
        }
        let hint = KeepAlive::from_headers(headers);
        if hint.timeout.is_some() {
            self.hint.timeout = hint.timeout;
        }
        if hint.max.is_some() {
            self.hint.max = hint.max;
        }
    }

    /// The exchange on it ended now: the server's idle clock starts.
    pub(crate) fn mark_idle(&mut self) {
        self.idle_since = Instant::now();
    }

    /// How long since the last exchange on it ended.
    pub(crate) fn idle_for(&self) -> Duration {
        self.idle_since.elapsed()
    }

    /// When the server will close this idle connection by itself, if it
    /// said (its `Keep-Alive: timeout`).
    pub(crate) fn server_idle_close(&self) -> Option<Instant> {
        self.hint
            .timeout
            .and_then(|t| self.idle_since.checked_add(t))
    }
}

/// What a new connection assumes of its server until a response says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hints {
    /// The server's idle timeout, when known without a `Keep-Alive` header.
    pub(crate) server_timeout: Option<Duration>,
    /// How long before the server's idle timeout to stop lending.
    pub(crate) margin: Duration,
}

/// How handing a request to hyper failed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // the error path; boxing would cost the common one nothing but code
pub(crate) enum SendError {
    /// None of the request was written: here it is back (with hyper's
    /// error, if it gave one).
    Unsent(Request<Body>, Option<hyper::Error>),
    /// The request was taken, and then the exchange failed.
    Failed(hyper::Error),
}

/// Whether the headers' `Connection` field lists `close`.
pub(crate) fn asks_to_close(headers: &HeaderMap) -> bool {
    lists(headers, "close")
}

/// Whether the headers' `Connection` field lists `option`.
fn lists(headers: &HeaderMap, option: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|listed| listed.trim().eq_ignore_ascii_case(option))
}

impl Drop for HttpConnection {
    /// Ends hyper's task, so that its descriptor closes with ours.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for HttpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnection")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("closing", &self.closing)
            .field("keep_alive", &self.hint)
            .field("task_finished", &self.task.is_finished())
            .finish_non_exhaustive()
    }
}
