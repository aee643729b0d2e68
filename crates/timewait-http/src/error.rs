//! The client's error: what went wrong, and for which origin.

use std::fmt;

use timewait_pool::BoxError;

use crate::origin::Origin;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request's URI cannot be sent: no scheme or no host.
    InvalidUri,
    /// The URI's scheme is neither `http` nor `https` (or `https` without
    /// the `tls` feature or a TLS configuration).
    UnsupportedScheme,
    /// The TCP connection could not be made (refused, unreachable, name not
    /// found).
    Connect,
    /// The TLS handshake failed (certificate, protocol, ALPN).
    Tls,
    /// A bound ran out: the connect timeout, or the pool's checkout timeout.
    Timeout,
    /// Every ephemeral port toward the origin is in use or in TIME_WAIT.
    PortsExhausted,
    /// The client was shut down.
    PoolClosed,
    /// The server's answer broke HTTP/1.1 (a malformed head, a connection
    /// closed before the response was complete), or the connection failed
    /// while the request was on it.
    Protocol,
    /// The request's own body failed while it was being sent.
    Body,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidUri => "invalid request URI",
            ErrorKind::UnsupportedScheme => "unsupported URI scheme",
            ErrorKind::Connect => "connect failed",
            ErrorKind::Tls => "tls handshake failed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::PortsExhausted => "no ephemeral port free",
            ErrorKind::PoolClosed => "the client is shut down",
            ErrorKind::Protocol => "http exchange failed",
            ErrorKind::Body => "the request body failed",
        }
    }
}

/// An error of the HTTP client: its [kind](ErrorKind), the origin it
/// concerns (when one is known), and the underlying error as its
/// [`source`](std::error::Error::source).
///
/// ```
/// use timewait_http::{Client, ErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = Client::new();
/// let error = client.get("ftp://example.com/").await.unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::UnsupportedScheme);
/// # }
/// ```
pub struct Error {
    kind: ErrorKind,
    origin: Option<Origin>,
    detail: Option<String>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            origin: None,
            detail: None,
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn with_origin(mut self, origin: &Origin) -> Error {
        self.origin.get_or_insert_with(|| origin.clone());
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn invalid_uri(detail: &str) -> Error {
        Error::new(ErrorKind::InvalidUri).with_detail(detail)
    }

    pub(crate) fn unsupported_scheme(scheme: &str) -> Error {
        Error::new(ErrorKind::UnsupportedScheme)
            .with_detail(format!("{scheme:?}: give http:// or https://"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The origin the failed request was for, when the error concerns one.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// Whether a bound ran out ([`ErrorKind::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Whether the connection could not be made ([`ErrorKind::Connect`] or
    /// [`ErrorKind::Tls`]).
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, ErrorKind::Connect | ErrorKind::Tls)
    }
}

impl fmt::Display for Error {
    /// `kind (origin): detail`, lower case, without a trailing period.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(origin) = &self.origin {
            write!(f, " ({origin})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("origin", &self.origin.as_ref().map(ToString::to_string))
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<timewait_pool::Error> for Error {
    /// A checkout's failure, by kind: a connect or TLS failure of the
    /// connector keeps its own kind.
    fn from(error: timewait_pool::Error) -> Error {
        use timewait_pool::Error as Pool;
        let kind = match &error {
            Pool::Connect(source) => {
                match source.downcast_ref::<crate::connector::ConnectError>() {
                    Some(inner) => inner.kind(),
                    None => ErrorKind::Connect,
                }
            }
            Pool::PortsExhausted { .. } => ErrorKind::PortsExhausted,
            Pool::Timeout { .. } => ErrorKind::Timeout,
            Pool::Closed => ErrorKind::PoolClosed,
            _ => ErrorKind::Connect,
        };
        Error::new(kind).with_source(error)
    }
}

impl From<hyper::Error> for Error {
    /// A failure of an exchange: the request body's own error, a timeout,
    /// or else a protocol failure.
    fn from(error: hyper::Error) -> Error {
        let kind = if error.is_user() && error.is_body_write_aborted() {
            ErrorKind::Body
        } else if error.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Protocol
        };
        Error::new(kind).with_source(error)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_pools_errors_keep_their_kind() {
        let exhausted = timewait_pool::Error::PortsExhausted {
            destination: None,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(Error::from(exhausted).kind(), ErrorKind::PortsExhausted);
        assert_eq!(
            Error::from(timewait_pool::Error::Closed).kind(),
            ErrorKind::PoolClosed
        );
        let tls = timewait_pool::Error::Connect(Box::new(crate::connector::ConnectError::Tls(
            std::io::Error::other("bad certificate"),
        )));
        assert_eq!(Error::from(tls).kind(), ErrorKind::Tls);
        let no_tls = timewait_pool::Error::Connect(Box::new(crate::connector::ConnectError::NoTls));
        assert_eq!(Error::from(no_tls).kind(), ErrorKind::UnsupportedScheme);
    }

    #[test]
    fn the_message_names_the_origin_and_the_source_is_wired() {
        let origin = Origin::from_uri(&"http://example.com:8080/".parse().unwrap()).unwrap();
        let error = Error::new(ErrorKind::Protocol)
            .with_source(std::io::Error::other("reset"))
            .with_origin(&origin);
        assert_eq!(
            error.to_string(),
            "http exchange failed (http://example.com:8080)"
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
