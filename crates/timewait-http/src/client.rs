//! The client: a `tower::Service<http::Request<B>>` over the pool.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, Uri};
use timewait_pool::{Pool, PoolStats, ShutdownReport};

use crate::body::Body;
use crate::builder::Builder;
use crate::connection::HttpConnection;
use crate::connector::HttpConnector;
use crate::error::Error;
use crate::origin::Origin;
use crate::response::{Drain, ResponseBody};

/// The pool under a [`Client`].
pub type HttpPool = Pool<Origin, HttpConnector, HttpConnection>;

/// What every clone of a client shares.
pub(crate) struct Shared {
    pub(crate) pool: HttpPool,
    pub(crate) set_host: bool,
    pub(crate) keep_alive_token: bool,
    pub(crate) retry: bool,
    pub(crate) drain: Drain,
}

/// An HTTP/1.1 client whose connections are kept alive per origin and,
/// when retired, closed by the server, so that TIME_WAIT stays on the
/// server. See [the crate's docs](crate) for what it does at a connection's
/// end.
///
/// Clones share one pool. It is a `tower::Service<http::Request<B>>` for
/// every body `B: Into<`[`Body`]`>`, always ready (the waits happen in the
/// call, where the origin is known).
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// A client with the [defaults](Builder).
    ///
    /// # Panics
    ///
    /// When the kernel's ephemeral port range leaves no usable port (then
    /// [`Builder::build`] says so as an error instead).
    pub fn new() -> Client {
        match Builder::new().build() {
            Ok(client) => client,
            Err(error) => panic!("the default HTTP client cannot be built: {error}"),
        }
    }

    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_shared(shared: Shared) -> Client {
        Client {
            shared: Arc::new(shared),
        }
    }

    /// Sends `request`; resolves to the response once its head is in. The
    /// body streams from it and holds the connection until read to its end.
    ///
    /// The URI must be absolute (`http://` or `https://`); it is sent in
    /// origin form, with a `Host` header when it has none.
    pub fn request<B: Into<Body>>(&self, request: Request<B>) -> ResponseFuture {
        let shared = self.shared.clone();
        let request = request.map(Into::into);
        ResponseFuture {
            inner: Box::pin(async move { crate::send::execute(&shared, request).await }),
        }
    }

    /// Sends a `GET` for `uri`.
    pub fn get<U>(&self, uri: U) -> ResponseFuture
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        match Request::get(uri).body(Body::empty()) {
            Ok(request) => self.request(request),
            Err(error) => ResponseFuture {
                inner: Box::pin(
                    async move { Err(Error::invalid_uri("not a URI").with_source(error)) },
                ),
            },
        }
    }

    /// Stops taking requests, retires every idle connection (each closed by
    /// its server), and waits up to `deadline` for connections still lent
    /// (a body not yet read) to come back and be retired too.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.shared.pool.shutdown(deadline).await
    }

    /// What the pool holds and has done, per origin and in total:
    /// connects, reuses, retirements and who closed them.
    pub fn stats(&self) -> PoolStats<Origin> {
        self.shared.pool.stats()
    }

    /// The pool itself.
    pub fn pool(&self) -> &HttpPool {
        &self.shared.pool
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.shared.pool)
            .field("set_host", &self.shared.set_host)
            .field("retry", &self.shared.retry)
            .finish()
    }
}

impl<B: Into<Body>> tower::Service<Request<B>> for Client {
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = ResponseFuture;

    /// Always ready: a checkout waits in the call, where the origin is
    /// known.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        self.request(request)
    }
}

/// The future of [`Client::request`]: the response head.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Error>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
