//! The pool's key: an origin, the scheme and authority of a URI.

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderValue, InvalidHeaderValue};
use http::uri::{Authority, Scheme, Uri};
use timewait_pool::Target;

use crate::error::Error;

/// Where a request goes: its scheme (`http` or `https`), host and port. The
/// client keeps connections per origin and never lends one made for an
/// origin to a request for another.
///
/// ```
/// use timewait_http::Origin;
///
/// let origin = Origin::from_uri(&"http://example.com/a?b".parse()?)?;
/// assert_eq!(origin.to_string(), "http://example.com:80");
/// assert_eq!(origin.host_header(), "example.com");
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    /// The host as written in the URI (IPv6 in brackets), lower case;
    /// shared, so that a key costs no copy.
    host: Arc<str>,
    port: u16,
    /// The URI named a port other than the scheme's default: the `Host`
    /// header then names it too.
    explicit_port: bool,
}

impl Origin {
    /// The origin of an absolute URI: `http://` or `https://` with a host.
    ///
    /// # Errors
    ///
    /// A URI without a scheme or host ([`ErrorKind::InvalidUri`](crate::ErrorKind::InvalidUri)), or
    /// with a scheme other than `http` and `https`
    /// ([`ErrorKind::UnsupportedScheme`](crate::ErrorKind::UnsupportedScheme)).
    pub fn from_uri(uri: &Uri) -> Result<Origin, Error> {
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) => return Err(Error::unsupported_scheme(s.as_str())),
            None => {
                return Err(Error::invalid_uri(
                    "the URI has no scheme: give http:// or https://",
                ));
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(Error::invalid_uri("the URI has no host"));
        };
        Ok(Origin::new(https, authority))
    }

    fn new(https: bool, authority: &Authority) -> Origin {
        let default = if https { 443 } else { 80 };
        Origin {
            https,
            host: lowercase(authority.host()),
            port: authority.port_u16().unwrap_or(default),
            explicit_port: authority.port_u16().is_some_and(|p| p != default),
        }
    }

    /// Whether the origin is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host without IPv6 brackets: what to resolve, and the TLS server
    /// name.
    pub fn hostname(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port, the scheme's default when the URI named none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// [`host_header`](Self::host_header) as a header value, made with one
    /// copy.
    pub(crate) fn host_header_value(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        if self.explicit_port {
            HeaderValue::from_str(&self.host_header())
        } else {
            HeaderValue::from_str(&self.host)
        }
    }

    /// The `Host` header for this origin (RFC 9110 §7.2): the host, and the
    /// port when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        if self.explicit_port {
            format!("{}:{}", self.host, self.port)
        } else {
            self.host.to_string()
        }
    }
}

/// The host in lower case, copied once.
fn lowercase(host: &str) -> Arc<str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Arc::from(host.to_ascii_lowercase())
    } else {
        Arc::from(host)
    }
}

impl fmt::Display for Origin {
    /// `scheme://host:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl From<&Origin> for Target {
    fn from(origin: &Origin) -> Target {
        Target::from((origin.hostname().to_owned(), origin.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(uri: &str) -> Origin {
        Origin::from_uri(&uri.parse().unwrap()).unwrap()
    }

    #[test]
    fn default_ports_are_filled_in_and_left_out_of_host() {
        let o = origin("https://Example.COM/x");
        assert_eq!(
            (o.is_https(), o.port(), o.host_header().as_str()),
            (true, 443, "example.com")
        );
        assert_eq!(origin("http://a:80/"), origin("http://a/"));
        assert_eq!(origin("http://a:8080/").host_header(), "a:8080");
        assert_ne!(origin("http://a/"), origin("https://a:80/"));
    }

    #[test]
    fn ipv6_hosts_keep_brackets_in_host_but_not_in_the_name() {
        let o = origin("http://[::1]:8080/");
        assert_eq!(o.hostname(), "::1");
        assert_eq!(o.host_header(), "[::1]:8080");
    }

    #[test]
    fn relative_and_foreign_uris_are_refused() {
        assert!(Origin::from_uri(&"/path".parse().unwrap()).is_err());
        assert!(Origin::from_uri(&"ftp://a/".parse().unwrap()).is_err());
    }
}
