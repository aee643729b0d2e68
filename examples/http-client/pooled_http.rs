//! HTTP/1.1 connections that a [`timewait::pool::Pool`] can hold, lend and
//! retire so that the server closes first.
//!
//! The pool holds the HTTP connection, not the raw socket: an
//! [`HttpConnection`] is hyper's `SendRequest` plus the task that drives the
//! connection, and [`HttpConnector`] makes one over any TCP connector (such
//! as [`timewait::pool::TcpConnector`]).
//!
//! # Who sends the first FIN
//!
//! After a request that carried `Connection: close`, hyper's client
//! connection shuts its write side down once the response is in: the client
//! sends the first FIN and keeps the TIME_WAIT entry (or, when the server's
//! FIN crosses it, both sides do). So the connection task here runs hyper's
//! connection *without shutdown*: hyper lets go of the socket without a
//! FIN. The connection keeps a duplicate of the socket's descriptor, so the
//! socket stays open until the pool closes it; retiring it under
//! `ClosePolicy::PeerFirst` reads that descriptor until the server's FIN and
//! only then closes it: a passive close, and the TIME_WAIT entry stays on the
//! server (RFC 9112 §9.6 asks exactly this of a client). With hyper's
//! ordinary shutdown instead, `tests/http_client.rs` sees one client-side
//! TIME_WAIT entry per connection: after `Connection: close` as soon as the
//! server is slow to send its FIN, and always when the pool waits for the
//! server's keep-alive close (dropping the sender makes hyper shut down at
//! once).
//!
//! The server is asked to close in one of two ways:
//!
//! - the caller adds `Connection: close` ([`request_close`]) to the request
//!   it sends on the connection's last use (`Pooled::is_final_use`), and the
//!   pool's farewell, [`CloseRequest`], sends one more request with that
//!   header when an idle connection is retired (at shutdown, say);
//! - or nobody asks, and the pool waits for the server's keep-alive close
//!   (`PoolBuilder::peer_keep_alive`).
//!
//! Released hyper decides whether a connection can be reused from the
//! response alone; a connection on which `Connection: close` was sent
//! reports itself as no longer usable, so the pool never lends it again.
//!
//! This file is free of command-line concerns so that benches can include it
//! with `#[path]`.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CONNECTION, HOST, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use socket2::{SockRef, Socket};
use timewait::core::ledger::Destination;
use timewait::pool::{BoxError, Connection, Farewell, FarewellFuture, Health, PeerClose};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// An HTTP/1.1 client connection: hyper's request sender, the task driving
/// the connection, and a duplicate of the socket's descriptor that keeps the
/// socket open until the pool closes it.
pub(crate) struct HttpConnection<B> {
    /// `None` once the pool waits for the server's close.
    sender: Option<SendRequest<B>>,
    /// Drives hyper's connection without shutdown; ends when hyper is done
    /// with the socket (after `Connection: close`, an error, the server's
    /// FIN, or once the sender is dropped).
    task: JoinHandle<()>,
    socket: Socket,
    local: SocketAddr,
    peer: SocketAddr,
    sent_close: bool,
}

impl<B> HttpConnection<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Makes an HTTP/1.1 connection over `stream` and spawns the task that
    /// drives it. Needs a tokio runtime.
    pub(crate) async fn handshake(stream: TcpStream) -> Result<Self, HttpConnectError> {
        let local = stream.local_addr().map_err(HttpConnectError::Socket)?;
        let peer = stream.peer_addr().map_err(HttpConnectError::Socket)?;
        let socket = SockRef::from(&stream)
            .try_clone()
            .map_err(HttpConnectError::Socket)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(HttpConnectError::Handshake)?;
        let task = tokio::spawn(async move {
            // Dropping the returned parts closes hyper's descriptor only;
            // `socket` keeps the connection open, and no FIN goes out.
            if let Err(error) = connection.without_shutdown().await {
                tracing::debug!(%error, "http connection ended with an error");
            }
        });
        Ok(HttpConnection {
            sender: Some(sender),
            task,
            socket,
            local,
            peer,
            sent_close: false,
        })
    }

    /// Sends `request` once the connection is ready for it, and resolves to
    /// the response head; the body streams from the returned response.
    ///
    /// A request carrying `Connection: close` makes this connection unusable
    /// for the pool, whatever the response says.
    pub(crate) async fn send_request(
        &mut self,
        request: Request<B>,
    ) -> Result<Response<Incoming>, HttpRequestError> {
        let sender = self.sender.as_mut().ok_or(HttpRequestError::Retired)?;
        sender.ready().await.map_err(HttpRequestError::Hyper)?;
        if asks_to_close(request.headers()) {
            self.sent_close = true;
        }
        sender
            .send_request(request)
            .await
            .map_err(HttpRequestError::Hyper)
    }
}

impl<B> HttpConnection<B> {
    /// The connection's local address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server's address.
    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Whether hyper can still carry requests on this connection.
    fn can_send(&self) -> bool {
        !self.sent_close
            && !self.task.is_finished()
            && self.sender.as_ref().is_some_and(|s| !s.is_closed())
    }
}

impl<B> Connection for HttpConnection<B>
where
    B: Send + 'static,
{
    /// Peeks at the socket (one non-blocking `recv` with `MSG_PEEK`), then
    /// asks hyper.
    ///
    /// A connection hyper has finished with, or on which `Connection: close`
    /// was sent, while the server has not closed yet, is reported as
    /// [`Health::UnexpectedData`]: not lent again, and retired by waiting for
    /// the server's close without a farewell, which is what it needs.
    fn health(&mut self) -> Health {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match self.socket.peek(&mut byte) {
            Ok(0) => Health::PeerClosed,
            // A response nobody asked for (a 408 before an idle close).
            Ok(_) => Health::UnexpectedData,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if self.can_send() {
                    Health::Usable
                } else {
                    Health::UnexpectedData
                }
            }
            Err(e) if is_reset(&e) => Health::PeerReset,
            Err(e) => Health::Broken(e),
        }
    }

    fn destination(&self) -> Option<Destination> {
        Some(Destination::new(self.peer).with_local_ip(self.local.ip()))
    }

    /// Lets hyper finish with the socket (dropping the sender ends an idle
    /// connection), then reads the socket until the server's FIN.
    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        self.sender = None;
        // A finished task's outcome is not needed (and a task awaited to
        // completion must not be awaited again).
        if !self.task.is_finished() {
            if let Err(error) = (&mut self.task).await {
                tracing::debug!(%error, "http connection task failed");
            }
        }
        let stream = TcpStream::from_std(self.socket.try_clone()?.into())?;
        read_until_peer_close(stream).await
    }

    fn close(self) {
        drop(self);
    }

    fn abort(self) {
        if let Err(error) = self.socket.set_linger(Some(std::time::Duration::ZERO)) {
            tracing::debug!(%error, "could not set SO_LINGER 0; closing normally");
        }
        drop(self);
    }
}

impl<B> Drop for HttpConnection<B> {
    /// Ends the connection task, so that hyper's descriptor closes with ours.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<B> fmt::Debug for HttpConnection<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnection")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("sent_close", &self.sent_close)
            .field("task_finished", &self.task.is_finished())
            .finish_non_exhaustive()
    }
}

/// Reads and discards until the peer's FIN or reset.
async fn read_until_peer_close(mut stream: TcpStream) -> io::Result<PeerClose> {
    let mut discard = [0u8; 1024];
    loop {
        match stream.read(&mut discard).await {
            Ok(0) => return Ok(PeerClose::Fin),
            Ok(_) => {}
            Err(e) if is_reset(&e) => return Ok(PeerClose::Reset),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

/// Whether the headers' `Connection` field lists the `close` option.
fn asks_to_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("close"))
}

/// Adds `Connection: close` to `request`: the server closes the connection
/// after its response (RFC 9112 §9.6).
pub(crate) fn request_close<B>(request: &mut Request<B>) {
    request
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

/// A tower service that makes [`HttpConnection`]s over the TCP streams of
/// another connector, for any key that connector takes.
pub(crate) struct HttpConnector<S, B> {
    tcp: S,
    _body: PhantomData<fn() -> B>,
}

impl<S, B> HttpConnector<S, B> {
    /// HTTP/1.1 connections over the streams `tcp` makes.
    pub(crate) fn new(tcp: S) -> Self {
        HttpConnector {
            tcp,
            _body: PhantomData,
        }
    }
}

impl<S: Clone, B> Clone for HttpConnector<S, B> {
    fn clone(&self) -> Self {
        HttpConnector::new(self.tcp.clone())
    }
}

impl<S: fmt::Debug, B> fmt::Debug for HttpConnector<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("tcp", &self.tcp)
            .finish()
    }
}

impl<K, S, B> tower::Service<K> for HttpConnector<S, B>
where
    S: tower::Service<K, Response = TcpStream>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = HttpConnection<B>;
    type Error = HttpConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpConnection<B>, HttpConnectError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), HttpConnectError>> {
        self.tcp
            .poll_ready(cx)
            .map_err(|e| HttpConnectError::Connect(e.into()))
    }

    fn call(&mut self, key: K) -> Self::Future {
        let connecting = self.tcp.call(key);
        Box::pin(async move {
            let stream = connecting
                .await
                .map_err(|e| HttpConnectError::Connect(e.into()))?;
            HttpConnection::handshake(stream).await
        })
    }
}

/// Making an HTTP connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HttpConnectError {
    /// The TCP connector failed.
    #[error("the tcp connector failed")]
    Connect(#[source] BoxError),
    /// The socket could not be inspected or duplicated.
    #[error("could not inspect or duplicate the socket")]
    Socket(#[source] io::Error),
    /// hyper refused the connection.
    #[error("the http/1.1 handshake failed")]
    Handshake(#[source] hyper::Error),
}

/// A request on an [`HttpConnection`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HttpRequestError {
    /// The connection is being retired; check out another.
    #[error("the connection is retired: check out another")]
    Retired,
    /// hyper reported an error.
    #[error(transparent)]
    Hyper(hyper::Error),
}

/// A pool key that names an origin's authority, for the `Host` header of
/// the requests the pool makes itself.
pub(crate) trait Authority {
    /// `host:port`, as the `Host` header carries it.
    fn authority(&self) -> String;
}

impl Authority for (String, u16) {
    fn authority(&self) -> String {
        format!("{}:{}", self.0, self.1)
    }
}

impl Authority for SocketAddr {
    fn authority(&self) -> String {
        self.to_string()
    }
}

/// The pool's farewell for HTTP/1.1: one more request, with
/// `Connection: close` and the `Host` of the connection's own key, whose
/// response is read and discarded; the server then closes first.
///
/// Skipped on a connection that already sent `Connection: close` or that
/// hyper has finished with: those only need the wait for the server's FIN.
#[derive(Debug, Clone)]
pub(crate) struct CloseRequest {
    method: Method,
    target: Uri,
}

impl CloseRequest {
    /// A farewell that sends `method target` (origin form, `/` say).
    pub(crate) fn new(method: Method, target: Uri) -> Self {
        CloseRequest { method, target }
    }

    fn request<B: Default>(&self, host: &str) -> Result<Request<B>, http::Error> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.target.clone())
            .header(HOST, host)
            .body(B::default())?;
        request_close(&mut request);
        Ok(request)
    }
}

impl<K, B> Farewell<K, HttpConnection<B>> for CloseRequest
where
    K: Authority + Sync,
    B: Body + Default + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn say<'a>(&'a self, key: &'a K, conn: &'a mut HttpConnection<B>) -> FarewellFuture<'a> {
        Box::pin(async move {
            if !conn.can_send() {
                return Ok(());
            }
            let request = self.request(&key.authority()).map_err(io::Error::other)?;
            let response = conn.send_request(request).await.map_err(io::Error::other)?;
            response
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?;
            Ok(())
        })
    }
}
