//! The kernel's memory per TIME_WAIT entry, measured: the object size of
//! the `tw_sock_TCP` slab cache in `/proc/slabinfo`.
//!
//! A TIME_WAIT entry is a `struct inet_timewait_sock`, allocated from its
//! own cache; its size depends on the kernel's version and configuration,
//! so it is read, never assumed. `/proc/slabinfo` is readable by root only.

use std::path::Path;

/// The file the kernel publishes its slab caches in.
pub const SLABINFO: &str = "/proc/slabinfo";
/// The cache of IPv4 TIME_WAIT entries (IPv6 ones use `tw_sock_TCPv6`).
pub const TW_CACHE: &str = "tw_sock_TCP";

/// The `objsize` column of `cache`'s line in slabinfo `text` (version 2.x:
/// `name active_objs num_objs objsize objperslab pagesperslab : ...`).
///
/// ```
/// use timewait_cli::slab::object_size;
///
/// let text = "slabinfo - version: 2.1\n\
///     # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n\
///     tw_sock_TCPv6          0      0    256   16    1 : tunables    0    0    0 : slabdata      0      0      0\n\
///     tw_sock_TCP           32     32    256   16    1 : tunables    0    0    0 : slabdata      2      2      0\n";
/// assert_eq!(object_size(text, "tw_sock_TCP"), Ok(256));
/// assert!(object_size(text, "request_sock_TCP").is_err());
/// ```
pub fn object_size(text: &str, cache: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some(cache))
        .ok_or_else(|| format!("no {cache} line"))?;
    let field = line
        .split_whitespace()
        .nth(3)
        .ok_or_else(|| format!("the {cache} line has no objsize column"))?;
    field
        .parse()
        .map_err(|_| format!("objsize {field:?} is not a number"))
}

/// Where the entry size came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntrySize {
    /// Bytes per entry (`objsize`), when known.
    pub bytes: Option<u64>,
    /// The file read, or why the size is unknown.
    pub from: String,
}

/// Reads the entry size from `path`: an error only when the caller named the
/// file; for the default file, an unreadable or unusual file makes the size
/// unknown, with the reason.
pub fn entry_size(path: Option<&Path>) -> Result<EntrySize, crate::error::CliError> {
    use crate::error::CliError;
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::SlabinfoRead {
                path: path.to_owned(),
                source,
            })?;
            let bytes = object_size(&text, TW_CACHE).map_err(|reason| CliError::SlabinfoParse {
                path: path.to_owned(),
                reason,
            })?;
            Ok(EntrySize {
                bytes: Some(bytes),
                from: format!("{TW_CACHE} objsize, {}", path.display()),
            })
        }
        None => Ok(match std::fs::read_to_string(SLABINFO) {
            Ok(text) => match object_size(&text, TW_CACHE) {
                Ok(bytes) => EntrySize {
                    bytes: Some(bytes),
                    from: format!("{TW_CACHE} objsize, {SLABINFO}"),
                },
                Err(reason) => EntrySize {
                    bytes: None,
                    from: format!("{SLABINFO}: {reason}"),
                },
            },
            Err(e) => EntrySize {
                bytes: None,
                from: format!("cannot read {SLABINFO} ({e}); run as root to measure it"),
            },
        }),
    }
}
