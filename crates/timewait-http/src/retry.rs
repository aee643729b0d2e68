//! Which failed requests are sent again, once, on another connection.
//!
//! The rule follows Go's `shouldRetryRequest`: only on a reused connection
//! (a new one failing says something about the server, not a race), and
//! only when the server cannot have acted on the request:
//!
//! - none of the request was written (hyper gave it back): any method;
//! - or the request is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE,
//!   or it carries `Idempotency-Key`) and the connection closed before any
//!   byte of the response arrived: the keep-alive race, where the server
//!   closed the idle connection as the request went out (hyper #2136).
//!
//! The second case needs the request again, so only requests with a
//! [replayable](crate::Body::is_replayable) body qualify.

use std::io;

use http::{HeaderMap, Method};

/// What is known of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed {
    /// The connection had served an earlier request.
    pub(crate) reused: bool,
    /// hyper gave the request back: none of it was written.
    pub(crate) unsent: bool,
    /// Some byte of the response arrived before the failure.
    pub(crate) answered: bool,
    /// The failure is the connection closing or resetting.
    pub(crate) closed: bool,
}

/// Whether the request may be sent again on another connection.
pub(crate) fn should_retry(failed: Failed, idempotent: bool, replayable: bool) -> bool {
    if !failed.reused {
        return false;
    }
    if failed.unsent {
        return true;
    }
    idempotent && replayable && failed.closed && !failed.answered
}

/// Whether a request with this method and these headers is idempotent
/// (RFC 9110 §9.2.2), or declares itself so with `Idempotency-Key`.
pub(crate) fn is_idempotent(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || headers.contains_key("idempotency-key")
}

/// Whether hyper's error is the connection going away (closed before the
/// message completed, canceled, or reset / broken pipe / EOF underneath).
pub(crate) fn is_closed(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const RACE: Failed = Failed {
        reused: true,
        unsent: false,
        answered: false,
        closed: true,
    };

    #[test]
    fn unsent_requests_on_reused_connections_are_retried_whatever_the_method() {
        let unsent = Failed {
            unsent: true,
            closed: false,
            ..RACE
        };
        assert!(should_retry(unsent, false, false));
        assert!(!should_retry(
            Failed {
                reused: false,
                ..unsent
            },
            true,
            true
        ));
    }

    #[test]
    fn the_keep_alive_race_is_retried_only_for_replayable_idempotent_requests() {
        assert!(should_retry(RACE, true, true));
        assert!(!should_retry(RACE, false, true));
        assert!(!should_retry(RACE, true, false));
        assert!(!should_retry(
            Failed {
                answered: true,
                ..RACE
            },
            true,
            true
        ));
        assert!(!should_retry(
            Failed {
                closed: false,
                ..RACE
            },
            true,
            true
        ));
        assert!(!should_retry(
            Failed {
                reused: false,
                ..RACE
            },
            true,
            true
        ));
    }

    #[test]
    fn idempotency_is_the_method_or_the_key() {
        let none = HeaderMap::new();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(is_idempotent(&m, &none), "{m}");
        }
        assert!(!is_idempotent(&Method::POST, &none));
        assert!(!is_idempotent(&Method::PATCH, &none));
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", "abc".parse().unwrap());
        assert!(is_idempotent(&Method::POST, &keyed));
    }
}
