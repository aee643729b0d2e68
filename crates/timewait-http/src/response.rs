//! The response body, which holds the connection's lease until it ends.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use timewait_pool::Pooled;

use crate::connection::HttpConnection;
use crate::error::Error;
use crate::origin::Origin;

/// The lease on a pooled connection.
pub(crate) type Lease = Pooled<Origin, HttpConnection>;

/// What happens to the rest of a body dropped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drain {
    /// At most this many bytes are read and discarded (0: none).
    pub(crate) max_bytes: u64,
    /// Within this long.
    pub(crate) within: Duration,
}

/// A response body. It holds the lease on its connection: the connection
/// goes back to the pool when the body has been read to its end (its last
/// frame, or `None`), not when the `Response` is dropped, so no other
/// request can be sent on it while bytes of this one are still on their way.
///
/// A body dropped before its end has its rest drained in the background, up
/// to [`Builder::drain_unread`](crate::Builder::drain_unread) (64 KiB within
/// 1 s by default); drained in time, the connection is reused. A longer rest,
/// a slower server, or an error retires the connection without a farewell
/// (the pool's fallback closes it: the one case where this client may keep
/// a TIME_WAIT entry).
pub struct ResponseBody {
    incoming: Option<Incoming>,
    lease: Option<Lease>,
    drain: Drain,
}

impl ResponseBody {
    pub(crate) fn new(incoming: Incoming, lease: Lease, drain: Drain) -> ResponseBody {
        let mut body = ResponseBody {
            incoming: Some(incoming),
            lease: Some(lease),
            drain,
        };
        if body.incoming.as_ref().is_some_and(HttpBody::is_end_stream) {
            body.finish();
        }
        body
    }

    /// Whether the body still holds its connection (it has not been read to
    /// its end).
    pub fn holds_connection(&self) -> bool {
        self.lease.is_some()
    }

    /// The body is read to its end: the connection goes back to the pool.
    fn finish(&mut self) {
        if let Some(mut lease) = self.lease.take() {
            lease.mark_idle();
            lease.release();
        }
    }
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(incoming) = this.incoming.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(Pin::new(&mut *incoming).poll_frame(cx)) {
            None => {
                this.finish();
                Poll::Ready(None)
            }
            Some(Ok(frame)) => {
                if incoming.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => {
                // The exchange broke mid-body: the lease is dropped
                // unreleased, and the pool retires the connection.
                let mut error = Error::from(error);
                if let Some(lease) = this.lease.take() {
                    error = error.with_origin(lease.key());
                }
                this.incoming = None;
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Default for ResponseBody {
    /// An empty body that holds no connection (for layers that make their
    /// own responses, such as tower-http's `Timeout`).
    fn default() -> ResponseBody {
        ResponseBody {
            incoming: None,
            lease: None,
            drain: Drain {
                max_bytes: 0,
                within: Duration::ZERO,
            },
        }
    }
}

impl Drop for ResponseBody {
    /// Drains the rest of an unread body in the background (bounded), then
    /// releases the connection; or retires it.
    fn drop(&mut self) {
        let (Some(incoming), Some(lease)) = (self.incoming.take(), self.lease.take()) else {
            return;
        };
        let fits = incoming
            .size_hint()
            .exact()
            .is_none_or(|n| n <= self.drain.max_bytes);
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            Ok(runtime) if self.drain.max_bytes > 0 && fits => {
                runtime.spawn(drain(incoming, lease, self.drain));
            }
            // Dropped unreleased: retired.
            _ => drop(lease),
        }
    }
}

/// Reads and discards the rest of `incoming`, bounded; releases the lease
/// if it reached the end.
async fn drain(mut incoming: Incoming, mut lease: Lease, limit: Drain) {
    let read_to_end = async {
        let mut left = limit.max_bytes;
        while let Some(frame) = incoming.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                match left.checked_sub(data.len() as u64) {
                    Some(rest) => left = rest,
                    None => return false,
                }
            }
        }
        true
    };
    if let Ok(true) = tokio::time::timeout(limit.within, read_to_end).await {
        lease.mark_idle();
        lease.release();
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("origin", &self.lease.as_ref().map(|l| l.key().to_string()))
            .field("holds_connection", &self.holds_connection())
            .finish_non_exhaustive()
    }
}
