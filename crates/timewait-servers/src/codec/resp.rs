//! RESP2, Redis's serialization protocol: commands as arrays of bulk
//! strings, replies as simple strings, errors, integers, bulk strings and
//! arrays (both possibly null), arrays nested.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::CodecError;
use super::line::{find_crlf, parse_i64};

const PROTOCOL: &str = "RESP";

/// A RESP2 value, as a server replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespValue {
    /// `+OK`: a simple string.
    Simple(Bytes),
    /// `-ERR ...`: an error reply.
    Error(Bytes),
    /// `:42`: an integer.
    Integer(i64),
    /// `$3 foo`, or `$-1`: a bulk string, or null.
    Bulk(Option<Bytes>),
    /// `*2 ...`, or `*-1`: an array, or null.
    Array(Option<Vec<RespValue>>),
}

impl RespValue {
    /// Appends this value's RESP2 encoding to `dst`: the server's side, for
    /// tests that script a server.
    ///
    /// ```
    /// use timewait_servers::codec::RespValue;
    /// let mut out = bytes::BytesMut::new();
    /// RespValue::Integer(-3).encode(&mut out);
    /// assert_eq!(&out[..], b":-3\r\n");
    /// ```
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Self::Simple(s) => put_line(dst, b'+', s),
            Self::Error(s) => put_line(dst, b'-', s),
            Self::Integer(n) => put_line(dst, b':', n.to_string().as_bytes()),
            Self::Bulk(None) => dst.put_slice(b"$-1\r\n"),
            Self::Bulk(Some(b)) => put_bulk(dst, b),
            Self::Array(None) => dst.put_slice(b"*-1\r\n"),
            Self::Array(Some(items)) => {
                put_line(dst, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode(dst);
                }
            }
        }
    }
}

/// A command: the arguments a client sends as an array of bulk strings.
///
/// ```
/// use timewait_servers::codec::RespCommand;
/// let set = RespCommand::new(["SET", "key"]).arg(b"value");
/// assert_eq!(set.args().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RespCommand {
    args: Vec<Bytes>,
}

impl RespCommand {
    /// A command made of `args`, the command's name first.
    pub fn new<I, A>(args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        Self {
            args: args
                .into_iter()
                .map(|a| Bytes::copy_from_slice(a.as_ref()))
                .collect(),
        }
    }

    /// The command with one more argument.
    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Self {
        self.args.push(Bytes::copy_from_slice(arg.as_ref()));
        self
    }

    /// The arguments, the command's name first.
    pub fn args(&self) -> &[Bytes] {
        &self.args
    }
}

/// The client's RESP2 codec: encodes [`RespCommand`]s, decodes
/// [`RespValue`]s.
///
/// ```
/// use timewait_servers::codec::{Resp, RespCommand, RespValue};
/// use tokio_util::codec::{Decoder, Encoder};
/// let mut codec = Resp::default();
/// let mut out = bytes::BytesMut::new();
/// codec.encode(RespCommand::new(["PING"]), &mut out).unwrap();
/// assert_eq!(&out[..], b"*1\r\n$4\r\nPING\r\n");
/// let mut reply = bytes::BytesMut::from(&b"+PO"[..]);
/// assert_eq!(codec.decode(&mut reply).unwrap(), None); // partial: wait
/// reply.extend_from_slice(b"NG\r\n");
/// assert_eq!(
///     codec.decode(&mut reply).unwrap(),
///     Some(RespValue::Simple("PONG".into()))
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Resp {
    max_line: usize,
    max_bulk: usize,
    max_elements: usize,
    max_depth: usize,
}

impl Default for Resp {
    /// Lines up to 64 KiB, bulk strings up to 64 MiB, arrays up to a million
    /// elements, nested up to 32 deep.
    fn default() -> Self {
        Self {
            max_line: 64 * 1024,
            max_bulk: 64 * 1024 * 1024,
            max_elements: 1_000_000,
            max_depth: 32,
        }
    }
}

impl Resp {
    /// The longest bulk string the decoder accepts.
    pub fn max_bulk(mut self, bytes: usize) -> Self {
        self.max_bulk = bytes;
        self
    }

    /// Parses one value at `buf[pos..]`: the value and where it ends, or
    /// `None` if more bytes are needed.
    fn parse(
        &self,
        buf: &[u8],
        pos: usize,
        depth: usize,
    ) -> Result<Option<(RespValue, usize)>, CodecError> {
        let Some(end) = find_crlf(PROTOCOL, buf, pos + 1, self.max_line)? else {
            return Ok(None);
        };
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let line = &buf[pos + 1..end];
        let next = end + 2;
        if line.contains(&b'\r') || line.contains(&b'\n') {
            return Err(CodecError::malformed(PROTOCOL, "a bare CR or LF in a line"));
        }
        let value = match kind {
            b'+' => RespValue::Simple(Bytes::copy_from_slice(line)),
            b'-' => RespValue::Error(Bytes::copy_from_slice(line)),
            b':' => RespValue::Integer(parse_i64(PROTOCOL, line)?),
            b'$' => return self.bulk(buf, line, next),
            b'*' => return self.array(buf, line, next, depth),
            other => {
                return Err(CodecError::malformed(
                    PROTOCOL,
                    format!("unknown type byte {other:#04x}"),
                ));
            }
        };
        Ok(Some((value, next)))
    }

    fn bulk(
        &self,
        buf: &[u8],
        len: &[u8],
        start: usize,
    ) -> Result<Option<(RespValue, usize)>, CodecError> {
        let Some(len) = self.length(len, "bulk string", self.max_bulk)? else {
            return Ok(Some((RespValue::Bulk(None), start)));
        };
        let end = start + len;
        let Some(tail) = buf.get(end..end + 2) else {
            return Ok(None);
        };
        if tail != b"\r\n" {
            return Err(CodecError::malformed(PROTOCOL, "bulk string without CRLF"));
        }
        let data = Bytes::copy_from_slice(&buf[start..end]);
        Ok(Some((RespValue::Bulk(Some(data)), end + 2)))
    }

    fn array(
        &self,
        buf: &[u8],
        count: &[u8],
        mut pos: usize,
        depth: usize,
    ) -> Result<Option<(RespValue, usize)>, CodecError> {
        let Some(count) = self.length(count, "array", self.max_elements)? else {
            return Ok(Some((RespValue::Array(None), pos)));
        };
        if depth >= self.max_depth {
            return Err(CodecError::TooLarge {
                protocol: PROTOCOL,
                what: "nesting of arrays",
                len: depth as u64 + 1,
                max: self.max_depth as u64,
            });
        }
        // The count is the peer's word: allocate for what has arrived.
        let mut items = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let Some((item, next)) = self.parse(buf, pos, depth + 1)? else {
                return Ok(None);
            };
            items.push(item);
            pos = next;
        }
        Ok(Some((RespValue::Array(Some(items)), pos)))
    }

    /// A length header: `None` for `-1` (null), else a count up to `max`.
    fn length(
        &self,
        digits: &[u8],
        what: &'static str,
        max: usize,
    ) -> Result<Option<usize>, CodecError> {
        match parse_i64(PROTOCOL, digits)? {
            -1 => Ok(None),
            n if n < 0 => Err(CodecError::malformed(
                PROTOCOL,
                format!("negative {what} length {n}"),
            )),
            n if n as u64 > max as u64 => Err(CodecError::TooLarge {
                protocol: PROTOCOL,
                what,
                len: n as u64,
                max: max as u64,
            }),
            n => Ok(Some(n as usize)),
        }
    }
}

impl Decoder for Resp {
    type Item = RespValue;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RespValue>, CodecError> {
        match self.parse(src, 0, 0)? {
            Some((value, used)) => {
                let _ = src.split_to(used);
                Ok(Some(value))
            }
            None => Ok(None),
        }
    }
}

impl Encoder<RespCommand> for Resp {
    type Error = CodecError;

    fn encode(&mut self, command: RespCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        if command.args.is_empty() {
            return Err(CodecError::malformed(PROTOCOL, "a command needs a name"));
        }
        put_line(dst, b'*', command.args.len().to_string().as_bytes());
        for arg in &command.args {
            put_bulk(dst, arg);
        }
        Ok(())
    }
}

fn put_line(dst: &mut BytesMut, kind: u8, line: &[u8]) {
    dst.reserve(line.len() + 3);
    dst.put_u8(kind);
    dst.put_slice(line);
    dst.put_slice(b"\r\n");
}

fn put_bulk(dst: &mut BytesMut, data: &[u8]) {
    put_line(dst, b'$', data.len().to_string().as_bytes());
    dst.reserve(data.len() + 2);
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}
