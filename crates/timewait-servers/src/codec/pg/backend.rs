//! What the backend sends, parsed from one message's body with every read
//! bounds-checked.

use bytes::Bytes;

use super::PROTOCOL;
use crate::codec::CodecError;

/// A message from the backend (the server).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgBackend {
    /// `AuthenticationOk` (`R`, code 0): the startup is accepted.
    AuthenticationOk,
    /// Any other `R` message: the server wants a password or SASL, which
    /// this codec does not speak.
    Authentication {
        /// The request's code (3 cleartext, 5 MD5, 10 SASL, ...).
        code: i32,
        /// The rest of the message.
        data: Bytes,
    },
    /// `ParameterStatus` (`S`): a run-time parameter's value.
    ParameterStatus {
        /// The parameter, e.g. `server_version`.
        name: String,
        /// Its value.
        value: String,
    },
    /// `BackendKeyData` (`K`): what a cancel request would need.
    BackendKeyData {
        /// The backend's process id.
        pid: i32,
        /// Its secret key.
        secret: i32,
    },
    /// `ReadyForQuery` (`Z`), with the transaction status: `I` idle, `T`
    /// in a transaction, `E` in a failed one.
    ReadyForQuery(u8),
    /// `RowDescription` (`T`): the columns of the rows to come.
    RowDescription(Vec<PgField>),
    /// `DataRow` (`D`): one row, each column's value or `None` for NULL.
    DataRow(Vec<Option<Bytes>>),
    /// `CommandComplete` (`C`), with its tag such as `SELECT 1`.
    CommandComplete(String),
    /// `EmptyQueryResponse` (`I`): the query string was empty.
    EmptyQueryResponse,
    /// `ErrorResponse` (`E`).
    ErrorResponse(PgNotice),
    /// `NoticeResponse` (`N`).
    NoticeResponse(PgNotice),
    /// A message this codec does not parse, as it came.
    Other {
        /// Its type byte.
        tag: u8,
        /// Its body.
        body: Bytes,
    },
}

/// One column of a `RowDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgField {
    /// The column's name.
    pub name: String,
    /// The table's OID, or 0.
    pub table_oid: u32,
    /// The column's attribute number in its table, or 0.
    pub column: i16,
    /// The data type's OID.
    pub type_oid: u32,
    /// The data type's size (negative for variable-width types).
    pub type_size: i16,
    /// The type modifier.
    pub type_modifier: i32,
    /// The format code: 0 text, 1 binary.
    pub format: i16,
}

/// The fields of an `ErrorResponse` or `NoticeResponse`: each a code byte
/// (`S` severity, `C` SQLSTATE, `M` message, ...) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgNotice {
    /// The fields in the order they came.
    pub fields: Vec<(u8, String)>,
}

impl PgNotice {
    /// The field with `code`, if present.
    pub fn field(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, text)| text.as_str())
    }

    /// The SQLSTATE code (`C`), e.g. `42601` for a syntax error.
    pub fn code(&self) -> Option<&str> {
        self.field(b'C')
    }

    /// The primary message (`M`).
    pub fn message(&self) -> Option<&str> {
        self.field(b'M')
    }
}

/// Parses the body of a message of type `tag`.
pub(super) fn parse(tag: u8, body: Bytes) -> Result<PgBackend, CodecError> {
    let mut r = Reader { body: &body };
    let message = match tag {
        b'R' => match r.i32()? {
            0 => PgBackend::AuthenticationOk,
            code => PgBackend::Authentication {
                code,
                data: Bytes::copy_from_slice(r.rest()),
            },
        },
        b'S' => PgBackend::ParameterStatus {
            name: r.cstr()?,
            value: r.cstr()?,
        },
        b'K' => PgBackend::BackendKeyData {
            pid: r.i32()?,
            secret: r.i32()?,
        },
        b'Z' => PgBackend::ReadyForQuery(r.u8()?),
        b'T' => {
            let count = r.count()?;
            let mut fields = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                fields.push(PgField {
                    name: r.cstr()?,
                    table_oid: r.i32()? as u32,
                    column: r.i16()?,
                    type_oid: r.i32()? as u32,
                    type_size: r.i16()?,
                    type_modifier: r.i32()?,
                    format: r.i16()?,
                });
            }
            PgBackend::RowDescription(fields)
        }
        b'D' => {
            let count = r.count()?;
            let mut values = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                values.push(match r.i32()? {
                    -1 => None,
                    len if len < 0 => return Err(malformed(format!("column length {len}"))),
                    len => Some(Bytes::copy_from_slice(r.take(len as usize)?)),
                });
            }
            PgBackend::DataRow(values)
        }
        b'C' => PgBackend::CommandComplete(r.cstr()?),
        b'I' => PgBackend::EmptyQueryResponse,
        b'E' | b'N' => {
            let mut notice = PgNotice::default();
            loop {
                match r.u8()? {
                    0 => break,
                    code => notice.fields.push((code, r.cstr()?)),
                }
            }
            if tag == b'E' {
                PgBackend::ErrorResponse(notice)
            } else {
                PgBackend::NoticeResponse(notice)
            }
        }
        _ => return Ok(PgBackend::Other { tag, body }),
    };
    if !r.body.is_empty() {
        return Err(malformed(format!(
            "{} bytes left over in a {:?} message",
            r.body.len(),
            char::from(tag)
        )));
    }
    Ok(message)
}

/// Reads a body front to back; running out is an error, never a panic.
struct Reader<'a> {
    body: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.body.len() {
            return Err(malformed(format!(
                "a field of {n} bytes where {} are left",
                self.body.len()
            )));
        }
        let (head, rest) = self.body.split_at(n);
        self.body = rest;
        Ok(head)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.body)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, CodecError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, CodecError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A 16-bit count of what follows; negative is malformed.
    fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.i16()?;
        usize::try_from(n).map_err(|_| malformed(format!("negative count {n}")))
    }

    /// A NUL-terminated string; invalid UTF-8 is replaced, not refused.
    fn cstr(&mut self) -> Result<String, CodecError> {
        let Some(nul) = self.body.iter().position(|&b| b == 0) else {
            return Err(malformed("a string without its NUL".into()));
        };
        let s = String::from_utf8_lossy(&self.body[..nul]).into_owned();
        self.body = &self.body[nul + 1..];
        Ok(s)
    }
}

fn malformed(reason: String) -> CodecError {
    CodecError::malformed(PROTOCOL, reason)
}
