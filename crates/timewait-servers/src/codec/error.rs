//! The codecs' one error type.

use std::io;

/// Why a codec could not encode a message or decode the bytes it was given.
///
/// After a decoding error the stream is out of step: the connection should
/// be closed, not read on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The connection failed.
    #[error("i/o error")]
    Io(#[from] io::Error),
    /// The bytes are not a message of the protocol (or a message to encode
    /// cannot be expressed in it).
    #[error("malformed {protocol} message: {reason}")]
    Malformed {
        /// `RESP`, `memcache` or `PostgreSQL`.
        protocol: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A length on the wire is past the codec's limit.
    #[error("{protocol} {what} of {len} bytes is past the limit of {max}")]
    TooLarge {
        /// `RESP`, `memcache` or `PostgreSQL`.
        protocol: &'static str,
        /// What is too large: a line, a bulk string, a message...
        what: &'static str,
        /// Its length, as announced or as read so far.
        len: u64,
        /// The codec's limit.
        max: u64,
    },
}

impl CodecError {
    pub(crate) fn malformed(protocol: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            protocol,
            reason: reason.into(),
        }
    }
}
