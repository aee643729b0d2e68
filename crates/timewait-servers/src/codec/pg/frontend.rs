//! What the frontend sends: a startup, simple queries, `Terminate`.

use bytes::{BufMut, BytesMut};

use super::PROTOCOL;
use crate::codec::CodecError;

/// Protocol version 3.0, as the startup message states it.
const PROTOCOL_3_0: i32 = 3 << 16;

/// A message from the frontend (the client).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgFrontend {
    /// `StartupMessage`: protocol 3.0, the user, and other parameters such
    /// as `database` or `application_name`.
    Startup {
        /// The role to connect as.
        user: String,
        /// Further parameters, in order (`database` defaults to the user).
        params: Vec<(String, String)>,
    },
    /// `Query` (`Q`): a simple query, one or more SQL statements.
    Query(String),
    /// `Terminate` (`X`): the backend exits and closes the connection.
    Terminate,
}

impl PgFrontend {
    /// A startup message for `user` on `database`.
    ///
    /// ```
    /// use timewait_servers::codec::PgFrontend;
    /// let PgFrontend::Startup { params, .. } = PgFrontend::startup("postgres", "postgres") else {
    ///     unreachable!()
    /// };
    /// assert_eq!(params, [("database".to_owned(), "postgres".to_owned())]);
    /// ```
    pub fn startup(user: &str, database: &str) -> Self {
        Self::Startup {
            user: user.to_owned(),
            params: vec![("database".to_owned(), database.to_owned())],
        }
    }

    pub(super) fn encode(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        match self {
            Self::Startup { user, params } => {
                let mut body = BytesMut::new();
                body.put_i32(PROTOCOL_3_0);
                put_cstr(&mut body, "user")?;
                put_cstr(&mut body, user)?;
                for (name, value) in params {
                    put_cstr(&mut body, name)?;
                    put_cstr(&mut body, value)?;
                }
                body.put_u8(0);
                put_len(dst, body.len())?;
                dst.put_slice(&body);
            }
            Self::Query(sql) => {
                dst.put_u8(b'Q');
                put_len(dst, sql.len() + 1)?;
                put_cstr(dst, sql)?;
            }
            Self::Terminate => {
                dst.put_u8(b'X');
                put_len(dst, 0)?;
            }
        }
        Ok(())
    }
}

/// The length field: the body's length plus its own four bytes.
fn put_len(dst: &mut BytesMut, body: usize) -> Result<(), CodecError> {
    let len = i32::try_from(body + 4)
        .map_err(|_| CodecError::malformed(PROTOCOL, "a message past 2 GiB"))?;
    dst.put_i32(len);
    Ok(())
}

fn put_cstr(dst: &mut BytesMut, s: &str) -> Result<(), CodecError> {
    if s.as_bytes().contains(&0) {
        return Err(CodecError::malformed(PROTOCOL, "a string with a NUL byte"));
    }
    dst.put_slice(s.as_bytes());
    dst.put_u8(0);
    Ok(())
}
