//! Minimal [`tokio_util::codec`] codecs for the protocols the tests speak:
//! enough to send a request, read its answer and say goodbye.
//!
//! - [`Resp`]: RESP2, Redis's protocol. Commands go out as arrays of bulk
//!   strings; replies come back as [`RespValue`]s.
//! - [`Memcache`]: memcached's text protocol, [`MemcacheRequest`] out,
//!   [`MemcacheResponse`] in.
//! - [`PgCodec`]: the frontend's side of PostgreSQL's protocol 3.0,
//!   [`PgFrontend`] messages out, [`PgBackend`] messages in.
//!
//! Every decoder takes partial frames (it returns `Ok(None)` and waits for
//! more) and never panics on garbage: what it cannot parse is a
//! [`CodecError`], and lengths read from the wire are bounded before
//! anything is allocated for them.

mod error;
mod line;
mod memcache;
mod pg;
mod resp;

pub use error::CodecError;
pub use memcache::{Memcache, MemcacheRequest, MemcacheResponse, MemcacheValue};
pub use pg::{PgBackend, PgCodec, PgField, PgFrontend, PgNotice};
pub use resp::{Resp, RespCommand, RespValue};
