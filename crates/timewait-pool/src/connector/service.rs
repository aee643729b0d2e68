//! [`TcpConnector`] as a `tower::Service`, and its future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::TcpStream;

use super::{ConnectError, Target, TcpConnector};

/// The future returned by [`TcpConnector`]'s `Service::call`.
#[must_use = "futures do nothing unless polled"]
pub struct Connecting {
    inner: Pin<Box<dyn Future<Output = Result<TcpStream, ConnectError>> + Send>>,
}

impl<K: Into<Target>> tower::Service<K> for TcpConnector {
    type Response = TcpStream;
    type Error = ConnectError;
    type Future = Connecting;

    /// Always ready: the connector holds no capacity of its own.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: K) -> Connecting {
        let connector = self.clone();
        let target = key.into();
        Connecting {
            inner: Box::pin(async move { connector.connect(target).await }),
        }
    }
}

impl Future for Connecting {
    type Output = Result<TcpStream, ConnectError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for Connecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connecting").finish_non_exhaustive()
    }
}
