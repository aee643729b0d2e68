//! The framed lease's I/O: `Sink` of requests, `Stream` of the responses
//! owed, and their `async` shorthands.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder};

use super::boundary::Boundary;
use super::error::FramedError;
use super::lease::FramedLease;
use crate::connection::Connection;
use crate::key::Key;

/// The frame decoded by `D`.
type Frame<D> = <D as Decoder>::Item;
/// The error of a response: `D`'s decoding error.
type RecvError<D> = FramedError<<D as Decoder>::Error>;

impl<K, C, D, B> FramedLease<K, C, D, B>
where
    K: Key,
    C: Connection + AsyncRead + AsyncWrite + Unpin,
    D: Unpin,
    B: Unpin,
{
    /// Makes room for a request: flushes first when the write buffer is
    /// past the backpressure boundary, as `Framed` does.
    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError<D>>>
    where
        D: Decoder,
    {
        if self.failed {
            return Poll::Ready(Err(FramedError::Unusable));
        }
        if self.framed.write_buffer().len() >= self.framed.backpressure_boundary() {
            return self.poll_write_out(cx);
        }
        Poll::Ready(Ok(()))
    }

    /// Encodes a request into the write buffer, owing `responses`.
    fn start_send_owing<Req>(
        &mut self,
        request: Req,
        responses: usize,
    ) -> Result<(), FramedError<<D as Encoder<Req>>::Error>>
    where
        D: Encoder<Req>,
    {
        if self.failed {
            return Err(FramedError::Unusable);
        }
        Pin::new(&mut self.framed)
            .start_send(request)
            .map_err(|e| self.fail(e))?;
        self.owed = self.owed.saturating_add(responses);
        Ok(())
    }

    /// Writes out the write buffer and flushes the connection.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError<D>>>
    where
        D: Decoder,
    {
        if self.failed {
            return Poll::Ready(Err(FramedError::Unusable));
        }
        match ready!(self.poll_write_buffer(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(self.fail(error.into()))),
        }
    }

    /// Writes the write buffer to the connection, then flushes it.
    fn poll_write_buffer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.framed.write_buffer().is_empty() {
            // Taken out so that the connection can be borrowed beside it;
            // put back with its capacity, whatever the write did.
            let mut buffer = std::mem::take(self.framed.write_buffer_mut());
            let written = Pin::new(self.framed.get_mut()).poll_write(cx, &buffer);
            if let Poll::Ready(Ok(n)) = written {
                let _ = buffer.split_to(n);
            }
            *self.framed.write_buffer_mut() = buffer;
            match ready!(written) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the connection took no bytes of the request",
                    )));
                }
                Ok(_) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Pin::new(self.framed.get_mut()).poll_flush(cx)
    }

    /// The next frame of the responses owed, or `None` when none is owed
    /// (or the exchange was cut).
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<D>, RecvError<D>>>>
    where
        D: Decoder,
        B: Boundary<Frame<D>>,
    {
        if self.failed || self.owed == 0 {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.framed).poll_next(cx)) {
            Some(Ok(frame)) => {
                self.decoded(&frame);
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => Poll::Ready(Some(Err(self.fail(error)))),
            None => {
                // The peer's FIN with responses owed: nothing more will
                // come. The connection is closed already; the pool sees
                // that when the lease ends and closes passively.
                self.failed = true;
                Poll::Ready(Some(Err(FramedError::Closed { owed: self.owed })))
            }
        }
    }

    /// Sends `request` (encodes it and flushes), owing one response.
    pub async fn send<Req>(&mut self, request: Req) -> Result<(), RecvError<D>>
    where
        D: Decoder + Encoder<Req, Error = <D as Decoder>::Error>,
    {
        self.send_owing(request, 1).await
    }

    /// Sends `request`, owing `responses` (0 for memcached's `noreply`, say).
    pub async fn send_owing<Req>(
        &mut self,
        request: Req,
        responses: usize,
    ) -> Result<(), RecvError<D>>
    where
        D: Decoder + Encoder<Req, Error = <D as Decoder>::Error>,
    {
        self.feed_owing(request, responses).await?;
        self.flush().await
    }

    /// Encodes `request` into the write buffer, owing one response, without
    /// flushing: for pipelining, [`flush`](Self::flush) after the last.
    pub async fn feed<Req>(&mut self, request: Req) -> Result<(), RecvError<D>>
    where
        D: Decoder + Encoder<Req, Error = <D as Decoder>::Error>,
    {
        self.feed_owing(request, 1).await
    }

    /// Encodes `request` into the write buffer, owing `responses`, without
    /// flushing.
    pub async fn feed_owing<Req>(
        &mut self,
        request: Req,
        responses: usize,
    ) -> Result<(), RecvError<D>>
    where
        D: Decoder + Encoder<Req, Error = <D as Decoder>::Error>,
    {
        std::future::poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.start_send_owing(request, responses)
    }

    /// Writes out what was fed and flushes the connection.
    pub async fn flush(&mut self) -> Result<(), RecvError<D>>
    where
        D: Decoder,
    {
        std::future::poll_fn(|cx| self.poll_write_out(cx)).await
    }

    /// The next frame of the responses owed.
    ///
    /// Errors: [`FramedError::NothingOwed`] when no response is owed
    /// (nothing is read), [`FramedError::Closed`] when the peer closed the
    /// connection first, [`FramedError::Codec`] when decoding or the
    /// connection failed.
    pub async fn receive(&mut self) -> Result<Frame<D>, RecvError<D>>
    where
        D: Decoder,
        B: Boundary<Frame<D>>,
    {
        if self.failed {
            return Err(FramedError::Unusable);
        }
        if self.owed == 0 {
            return Err(FramedError::NothingOwed);
        }
        match std::future::poll_fn(|cx| self.poll_frame(cx)).await {
            Some(result) => result,
            None => Err(FramedError::Unusable),
        }
    }

    /// The frames of the next response owed, up to and including the one
    /// that ends it (see [`Boundary`]).
    pub async fn response(&mut self) -> Result<Vec<Frame<D>>, RecvError<D>>
    where
        D: Decoder,
        B: Boundary<Frame<D>>,
    {
        let owed = self.owed;
        let mut frames = Vec::new();
        loop {
            frames.push(self.receive().await?);
            if self.owed < owed {
                return Ok(frames);
            }
        }
    }

    /// Sends `request` and receives the frame that answers it: for
    /// protocols that answer a request with one frame.
    pub async fn call<Req>(&mut self, request: Req) -> Result<Frame<D>, RecvError<D>>
    where
        D: Decoder + Encoder<Req, Error = <D as Decoder>::Error>,
        B: Boundary<Frame<D>>,
    {
        self.send(request).await?;
        self.receive().await
    }
}

/// The responses owed, frame by frame: ends (`None`) when none is owed, or
/// after an error.
impl<K, C, D, B> Stream for FramedLease<K, C, D, B>
where
    K: Key,
    C: Connection + AsyncRead + AsyncWrite + Unpin,
    D: Decoder + Unpin,
    B: Boundary<Frame<D>> + Unpin,
{
    type Item = Result<Frame<D>, RecvError<D>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_frame(cx)
    }
}

/// Requests, each owing one response. Closing the sink only flushes it:
/// the connection is the pool's to close, after its farewell.
impl<K, C, D, B, Req> Sink<Req> for FramedLease<K, C, D, B>
where
    K: Key,
    C: Connection + AsyncRead + AsyncWrite + Unpin,
    D: Encoder<Req> + Unpin,
    B: Unpin,
{
    type Error = FramedError<<D as Encoder<Req>>::Error>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(FramedError::Unusable));
        }
        let result = ready!(Sink::<Req>::poll_ready(Pin::new(&mut this.framed), cx));
        Poll::Ready(result.map_err(|e| this.fail(e)))
    }

    fn start_send(self: Pin<&mut Self>, request: Req) -> Result<(), Self::Error> {
        self.get_mut().start_send_owing(request, 1)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(Err(FramedError::Unusable));
        }
        let result = ready!(Sink::<Req>::poll_flush(Pin::new(&mut this.framed), cx));
        Poll::Ready(result.map_err(|e| this.fail(e)))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_flush(cx)
    }
}
