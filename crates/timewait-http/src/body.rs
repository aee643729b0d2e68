//! The request body: bytes that can be sent again, or a stream that cannot.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use timewait_pool::BoxError;

/// A request body.
///
/// Bytes held in full (`Bytes`, `String`, `Vec<u8>`, `&'static str`,
/// [`Full`], [`Empty`]) can be sent again, so a request carrying them may be
/// [retried](crate#retries) on another connection; a [streamed](Body::wrap)
/// body is sent once, and its request is retried only when hyper gave it
/// back unsent.
///
/// ```
/// use timewait_http::Body;
///
/// assert!(Body::from("hello").is_replayable());
/// assert!(Body::empty().is_replayable());
/// let streamed = Body::wrap(http_body_util::Full::new(bytes::Bytes::from("x")));
/// assert!(!streamed.is_replayable());
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    /// Replayable; `None` once sent.
    Bytes(Option<Bytes>),
    Stream(BoxBody<Bytes, BoxError>),
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body {
            inner: Inner::Bytes(None),
        }
    }

    /// A body streamed from any [`http_body::Body`]: sent once, never
    /// replayed.
    pub fn wrap<B>(body: B) -> Body
    where
        B: HttpBody<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        Body {
            inner: Inner::Stream(body.map_err(Into::into).boxed()),
        }
    }

    /// Whether the body can be sent again (it is held in full).
    pub fn is_replayable(&self) -> bool {
        matches!(self.inner, Inner::Bytes(_))
    }

    /// A copy to send again, when the body is [replayable](Self::is_replayable).
    pub fn try_clone(&self) -> Option<Body> {
        match &self.inner {
            Inner::Bytes(bytes) => Some(Body {
                inner: Inner::Bytes(bytes.clone()),
            }),
            Inner::Stream(_) => None,
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(b) => f
                .debug_struct("Body")
                .field("len", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
            Inner::Stream(_) => f.debug_struct("Body").field("streamed", &true).finish(),
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.inner {
            Inner::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(stream) => Pin::new(stream).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Bytes(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Inner::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Stream(stream) => stream.size_hint(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            inner: Inner::Bytes((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(bytes))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Body {
        Body::empty()
    }
}

impl From<Empty<Bytes>> for Body {
    fn from(_: Empty<Bytes>) -> Body {
        Body::empty()
    }
}

impl From<Full<Bytes>> for Body {
    /// Held in full, so replayable. (`Full` always has its frame ready.)
    fn from(mut full: Full<Bytes>) -> Body {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut full).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(bytes) => Body::from(bytes),
                Err(_) => Body::empty(),
            },
            _ => Body::empty(),
        }
    }
}
