//! How an idle connection is brought to be closed by its server.

use std::io;
use std::time::Duration;

use http::header::{CONNECTION, HOST};
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use timewait_pool::{Farewell, FarewellFuture};
use tokio::time::Instant;

use crate::body::Body;
use crate::connection::{HttpConnection, SendError};
use crate::origin::Origin;

/// The farewell of an idle connection the pool retires (at shutdown, past a
/// limit, evicted):
///
/// - nothing, when hyper is done with it or the server was already asked to
///   close (the pool only waits for the server's FIN);
/// - nothing, when the server announced its keep-alive timeout
///   (`Keep-Alive: timeout=N`) and it runs out within the grace period:
///   the pool waits for the server's own idle close;
/// - otherwise `OPTIONS *` with `Connection: close` and the origin's `Host`
///   (RFC 9110 §9.3.7: it concerns the server, not a resource), whose answer
///   is read and discarded; the server then closes first.
#[derive(Debug, Clone)]
pub(crate) struct CloseIdle {
    /// The pool's grace period: how long it waits for the server's FIN.
    pub(crate) grace: Duration,
}

impl CloseIdle {
    fn request(origin: &Origin) -> Result<Request<Body>, http::Error> {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(Uri::from_static("*"))
            .header(HOST, origin.host_header())
            .header(CONNECTION, "close")
            .body(Body::empty())
    }
}

impl Farewell<Origin, HttpConnection> for CloseIdle {
    fn say<'a>(&'a self, origin: &'a Origin, conn: &'a mut HttpConnection) -> FarewellFuture<'a> {
        Box::pin(async move {
            if !conn.can_send() {
                return Ok(());
            }
            let soon = Instant::now().checked_add(self.grace);
            if let (Some(close), Some(soon)) = (conn.server_idle_close(), soon) {
                if close <= soon {
                    return Ok(());
                }
            }
            let request = CloseIdle::request(origin).map_err(io::Error::other)?;
            let response = match conn.send(request).await {
                Ok(response) => response,
                Err(SendError::Unsent(_, error)) => {
                    return Err(io::Error::other(format!("farewell not sent: {error:?}")));
                }
                Err(SendError::Failed(error)) => return Err(io::Error::other(error)),
            };
            response
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?;
            Ok(())
        })
    }
}
