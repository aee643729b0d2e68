//! The frontend's side of PostgreSQL's protocol 3.0: a `StartupMessage`
//! (the one message without a type byte), then typed messages, each a type
//! byte and a 32-bit length that counts itself but not the type.

mod backend;
mod frontend;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

pub use backend::{PgBackend, PgField, PgNotice};
pub use frontend::PgFrontend;

use super::CodecError;

const PROTOCOL: &str = "PostgreSQL";

/// The frontend's codec: encodes [`PgFrontend`] messages, decodes
/// [`PgBackend`] messages.
///
/// Enough for a startup under `trust` authentication, simple queries and
/// `Terminate`; any other backend message comes out as
/// [`PgBackend::Other`].
///
/// ```
/// use timewait_servers::codec::{PgBackend, PgCodec, PgFrontend};
/// use tokio_util::codec::{Decoder, Encoder};
/// let mut codec = PgCodec::default();
/// let mut out = bytes::BytesMut::new();
/// codec.encode(PgFrontend::Terminate, &mut out).unwrap();
/// assert_eq!(&out[..], b"X\0\0\0\x04");
/// let mut input = bytes::BytesMut::from(&b"Z\0\0\0\x05I"[..]);
/// assert_eq!(codec.decode(&mut input).unwrap(), Some(PgBackend::ReadyForQuery(b'I')));
/// ```
#[derive(Debug, Clone)]
pub struct PgCodec {
    max_message: usize,
}

impl Default for PgCodec {
    /// Messages up to 16 MiB.
    fn default() -> Self {
        Self {
            max_message: 16 * 1024 * 1024,
        }
    }
}

impl PgCodec {
    /// The longest backend message the decoder accepts.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }
}

impl Decoder for PgCodec {
    type Item = PgBackend;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<PgBackend>, CodecError> {
        let Some(header) = src.get(..5) else {
            return Ok(None);
        };
        let tag = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        if len < 4 {
            return Err(CodecError::malformed(
                PROTOCOL,
                format!("message length {len} is shorter than the length itself"),
            ));
        }
        if u64::from(len) > self.max_message as u64 {
            return Err(CodecError::TooLarge {
                protocol: PROTOCOL,
                what: "message",
                len: u64::from(len),
                max: self.max_message as u64,
            });
        }
        let body_len = len as usize - 4;
        if src.len() < 5 + body_len {
            src.reserve(5 + body_len - src.len());
            return Ok(None);
        }
        src.advance(5);
        let body = src.split_to(body_len).freeze();
        backend::parse(tag, body).map(Some)
    }
}

impl Encoder<PgFrontend> for PgCodec {
    type Error = CodecError;

    fn encode(&mut self, message: PgFrontend, dst: &mut BytesMut) -> Result<(), CodecError> {
        message.encode(dst)
    }
}
