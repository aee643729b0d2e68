//! memcached's text protocol: `get`, `set`, `delete`, `version` and `quit`
//! out; `VALUE ... END`, `STORED`, `DELETED`, `NOT_FOUND`, `VERSION` and the
//! three kinds of error in.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::CodecError;
use super::line::{find_crlf, parse_u64};

const PROTOCOL: &str = "memcache";
/// memcached's own limit on a key.
const MAX_KEY: usize = 250;

/// A request to memcached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemcacheRequest {
    /// `get <key>*`: answered by [`MemcacheResponse::Values`].
    Get(Vec<Bytes>),
    /// `set <key> <flags> <exptime> <bytes>`: answered by `STORED`.
    Set {
        /// The key: 1 to 250 bytes, no spaces or control characters.
        key: Bytes,
        /// Opaque flags stored with the value.
        flags: u32,
        /// Expiry: seconds, or a Unix time; 0 for never.
        exptime: u32,
        /// The value.
        data: Bytes,
    },
    /// `delete <key>`: answered by `DELETED` or `NOT_FOUND`.
    Delete(Bytes),
    /// `version`: answered by `VERSION <version>`.
    Version,
    /// `quit`: the server closes the connection, with no answer.
    Quit,
}

/// One item of a `get` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcacheValue {
    /// The item's key.
    pub key: Bytes,
    /// The flags stored with it.
    pub flags: u32,
    /// Its value.
    pub data: Bytes,
    /// Its CAS unique, when the request was `gets`.
    pub cas: Option<u64>,
}

/// A response from memcached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemcacheResponse {
    /// `VALUE ...` blocks up to `END`: the items found (none if none were).
    Values(Vec<MemcacheValue>),
    /// `STORED`.
    Stored,
    /// `NOT_STORED`.
    NotStored,
    /// `EXISTS`.
    Exists,
    /// `NOT_FOUND`.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK`.
    Ok,
    /// `VERSION <version>`.
    Version(Bytes),
    /// A bare number: the answer to `incr` or `decr`.
    Number(u64),
    /// `ERROR`: an unknown command.
    Error,
    /// `CLIENT_ERROR <message>`.
    ClientError(Bytes),
    /// `SERVER_ERROR <message>`.
    ServerError(Bytes),
}

/// The client's memcached text codec: encodes [`MemcacheRequest`]s, decodes
/// [`MemcacheResponse`]s.
///
/// ```
/// use timewait_servers::codec::{Memcache, MemcacheRequest, MemcacheResponse};
/// use tokio_util::codec::{Decoder, Encoder};
/// let mut codec = Memcache::default();
/// let mut out = bytes::BytesMut::new();
/// codec.encode(MemcacheRequest::Get(vec!["k".into()]), &mut out).unwrap();
/// assert_eq!(&out[..], b"get k\r\n");
/// let mut reply = bytes::BytesMut::from(&b"VALUE k 0 2\r\nhi\r\nEND\r\n"[..]);
/// let Some(MemcacheResponse::Values(items)) = codec.decode(&mut reply).unwrap() else {
///     panic!("not a get answer");
/// };
/// assert_eq!(items[0].data, "hi");
/// ```
#[derive(Debug, Clone)]
pub struct Memcache {
    max_line: usize,
    max_value: usize,
}

impl Default for Memcache {
    /// Lines up to 2 KiB, values up to 16 MiB.
    fn default() -> Self {
        Self {
            max_line: 2048,
            max_value: 16 * 1024 * 1024,
        }
    }
}

impl Memcache {
    /// Parses one response at the start of `buf`: the response and its
    /// length, or `None` if more bytes are needed.
    fn parse(&self, buf: &[u8]) -> Result<Option<(MemcacheResponse, usize)>, CodecError> {
        let Some(end) = find_crlf(PROTOCOL, buf, 0, self.max_line)? else {
            return Ok(None);
        };
        let line = &buf[..end];
        let next = end + 2;
        let (word, rest) = split_word(line);
        let text = || Bytes::copy_from_slice(rest);
        let response = match (word, rest.is_empty()) {
            (b"VALUE" | b"END", _) => return self.values(buf),
            (b"STORED", true) => MemcacheResponse::Stored,
            (b"NOT_STORED", true) => MemcacheResponse::NotStored,
            (b"EXISTS", true) => MemcacheResponse::Exists,
            (b"NOT_FOUND", true) => MemcacheResponse::NotFound,
            (b"DELETED", true) => MemcacheResponse::Deleted,
            (b"TOUCHED", true) => MemcacheResponse::Touched,
            (b"OK", true) => MemcacheResponse::Ok,
            (b"ERROR", true) => MemcacheResponse::Error,
            (b"VERSION", false) => MemcacheResponse::Version(text()),
            (b"CLIENT_ERROR", _) => MemcacheResponse::ClientError(text()),
            (b"SERVER_ERROR", _) => MemcacheResponse::ServerError(text()),
            (digits, true) if digits.first().is_some_and(u8::is_ascii_digit) => {
                MemcacheResponse::Number(parse_u64(PROTOCOL, digits)?)
            }
            _ => {
                return Err(CodecError::malformed(
                    PROTOCOL,
                    format!("unexpected line {:?}", String::from_utf8_lossy(line)),
                ));
            }
        };
        Ok(Some((response, next)))
    }

    /// `VALUE <key> <flags> <bytes> [<cas>]` blocks, each followed by its
    /// data, up to `END`.
    fn values(&self, buf: &[u8]) -> Result<Option<(MemcacheResponse, usize)>, CodecError> {
        let mut items = Vec::new();
        let mut pos = 0;
        loop {
            let Some(end) = find_crlf(PROTOCOL, buf, pos, self.max_line)? else {
                return Ok(None);
            };
            let line = &buf[pos..end];
            if line == b"END" {
                return Ok(Some((MemcacheResponse::Values(items), end + 2)));
            }
            let (key, flags, len, cas) = self.value_header(line)?;
            let start = end + 2;
            let Some(tail) = buf.get(start + len..start + len + 2) else {
                return Ok(None);
            };
            if tail != b"\r\n" {
                return Err(CodecError::malformed(PROTOCOL, "a value without its CRLF"));
            }
            items.push(MemcacheValue {
                key,
                flags,
                data: Bytes::copy_from_slice(&buf[start..start + len]),
                cas,
            });
            pos = start + len + 2;
        }
    }

    fn value_header(&self, line: &[u8]) -> Result<(Bytes, u32, usize, Option<u64>), CodecError> {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let (key, flags, len, cas) = match fields.as_slice() {
            [b"VALUE", key, flags, len] => (key, flags, len, None),
            [b"VALUE", key, flags, len, cas] => (key, flags, len, Some(parse_u64(PROTOCOL, cas)?)),
            _ => {
                return Err(CodecError::malformed(
                    PROTOCOL,
                    format!(
                        "expected VALUE or END, got {:?}",
                        String::from_utf8_lossy(line)
                    ),
                ));
            }
        };
        check_key(key)?;
        let flags = u32::try_from(parse_u64(PROTOCOL, flags)?)
            .map_err(|_| CodecError::malformed(PROTOCOL, "flags past 32 bits"))?;
        let len = parse_u64(PROTOCOL, len)?;
        if len > self.max_value as u64 {
            return Err(CodecError::TooLarge {
                protocol: PROTOCOL,
                what: "value",
                len,
                max: self.max_value as u64,
            });
        }
        Ok((Bytes::copy_from_slice(key), flags, len as usize, cas))
    }
}

impl Decoder for Memcache {
    type Item = MemcacheResponse;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<MemcacheResponse>, CodecError> {
        match self.parse(src)? {
            Some((response, used)) => {
                let _ = src.split_to(used);
                Ok(Some(response))
            }
            None => Ok(None),
        }
    }
}

impl Encoder<MemcacheRequest> for Memcache {
    type Error = CodecError;

    fn encode(&mut self, request: MemcacheRequest, dst: &mut BytesMut) -> Result<(), CodecError> {
        match request {
            MemcacheRequest::Get(keys) => {
                if keys.is_empty() {
                    return Err(CodecError::malformed(PROTOCOL, "get needs a key"));
                }
                dst.put_slice(b"get");
                for key in &keys {
                    check_key(key)?;
                    dst.put_u8(b' ');
                    dst.put_slice(key);
                }
            }
            MemcacheRequest::Set {
                key,
                flags,
                exptime,
                data,
            } => {
                check_key(&key)?;
                dst.put_slice(b"set ");
                dst.put_slice(&key);
                let header = format!(" {flags} {exptime} {}\r\n", data.len());
                dst.put_slice(header.as_bytes());
                dst.put_slice(&data);
            }
            MemcacheRequest::Delete(key) => {
                check_key(&key)?;
                dst.put_slice(b"delete ");
                dst.put_slice(&key);
            }
            MemcacheRequest::Version => dst.put_slice(b"version"),
            MemcacheRequest::Quit => dst.put_slice(b"quit"),
        }
        dst.put_slice(b"\r\n");
        Ok(())
    }
}

/// The first space-separated word of `line` and the rest after the space.
fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &[]),
    }
}

fn check_key(key: &[u8]) -> Result<(), CodecError> {
    if key.is_empty() || key.len() > MAX_KEY || key.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(CodecError::malformed(
            PROTOCOL,
            format!(
                "a key is 1 to {MAX_KEY} bytes without spaces or control characters, not {:?}",
                String::from_utf8_lossy(key)
            ),
        ));
    }
    Ok(())
}
