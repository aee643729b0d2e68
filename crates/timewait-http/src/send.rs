//! One request through the pool: prepare it, check a connection out, send,
//! and retry once when the [retry rule](crate::retry) allows.

use http::header::{CONNECTION, HOST, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};

use crate::body::Body;
use crate::client::Shared;
use crate::connection::{SendError, asks_to_close};
use crate::error::{Error, ErrorKind};
use crate::info::ConnectionInfo;
use crate::origin::Origin;
use crate::response::ResponseBody;
use crate::retry::{self, Failed};

/// Sends `request` and resolves to the response head; its body holds the
/// connection until read to its end.
pub(crate) async fn execute(
    shared: &Shared,
    mut request: Request<Body>,
) -> Result<Response<ResponseBody>, Error> {
    let origin = Origin::from_uri(request.uri())?;
    to_origin_form(&mut request);
    let idempotent = retry::is_idempotent(request.method(), request.headers());
    let replayable = request.body().is_replayable();
    let keep_spare = shared.retry && idempotent && replayable;
    match attempt(shared, &origin, request, keep_spare).await {
        Ok(response) => Ok(response),
        Err(failure) => {
            if !(shared.retry && retry::should_retry(failure.failed, idempotent, replayable)) {
                return Err(failure.error);
            }
            let again = failure.unsent.or(failure.spare);
            let Some(request) = again else {
                return Err(failure.error);
            };
            tracing::debug!(%origin, error = %failure.error, "retrying on another connection");
            // Boxed: the rare path does not make every request's future
            // twice as large.
            Box::pin(attempt(shared, &origin, request, false))
                .await
                .map_err(|f| f.error)
        }
    }
}

/// One attempt on one connection.
struct Failure {
    error: Error,
    failed: Failed,
    /// The request, given back by hyper unsent (less the `Connection:
    /// close` this attempt added).
    unsent: Option<Request<Body>>,
    /// A copy made before sending on a reused connection, for the
    /// keep-alive race (the request itself is gone into hyper).
    spare: Option<Request<Body>>,
}

async fn attempt(
    shared: &Shared,
    origin: &Origin,
    mut request: Request<Body>,
    keep_spare: bool,
) -> Result<Response<ResponseBody>, Failure> {
    let checkout = shared.pool.get(origin.clone()).await;
    let mut lease = checkout.map_err(|e| Failure {
        error: Error::from(e).with_origin(origin),
        failed: Failed {
            reused: false,
            unsent: true,
            answered: false,
            closed: false,
        },
        unsent: None,
        spare: None,
    })?;
    let reused = lease.is_reused();
    // Only a reused connection's failure is ever retried. Copied before
    // `Host` goes in: a request with no headers of its own copies for free.
    let spare = if keep_spare && reused {
        copy(&request)
    } else {
        None
    };
    if shared.set_host && !request.headers().contains_key(HOST) {
        let host = match lease.host_header() {
            Some(host) => Ok(host.clone()),
            None => origin.host_header_value(),
        };
        let host = match host {
            Ok(host) => host,
            Err(e) => {
                // Nothing was said on the connection: it goes back as it was.
                lease.release();
                return Err(Failure {
                    error: Error::invalid_uri("the host is not a valid Host header")
                        .with_source(e)
                        .with_origin(origin),
                    failed: Failed {
                        reused,
                        unsent: true,
                        answered: false,
                        closed: false,
                    },
                    unsent: None,
                    spare: None,
                });
            }
        };
        request.headers_mut().insert(HOST, host);
    }
    // The connection's last use: ask the server to close after it (RFC 9112
    // §9.6), so that its FIN comes first.
    let added_close = lease.is_final_use() && !asks_to_close(request.headers());
    if added_close {
        request
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    } else if shared.keep_alive_token && !request.headers().contains_key(CONNECTION) {
        // Apache httpd announces `Keep-Alive: timeout, max` only when asked.
        request
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    let (traffic, mark) = lease.traffic();
    match lease.send(request).await {
        Ok(response) => {
            lease.note_response(response.version(), response.headers());
            let (mut parts, incoming) = response.into_parts();
            parts.extensions.insert(ConnectionInfo {
                local: lease.local_addr(),
                remote: lease.peer_addr(),
                reused,
                tls: lease.is_tls(),
            });
            let body = ResponseBody::new(incoming, lease, shared.drain);
            Ok(Response::from_parts(parts, body))
        }
        // The lease is dropped unreleased: the pool looks at the socket and
        // retires the connection (a passive close if the server's FIN is in).
        Err(SendError::Unsent(mut request, error)) => {
            if added_close {
                request.headers_mut().remove(CONNECTION);
            }
            let error = match error {
                Some(e) => Error::from(e),
                None => Error::new(ErrorKind::Protocol).with_detail("the connection was closing"),
            };
            Err(Failure {
                error: error.with_origin(origin),
                failed: Failed {
                    reused,
                    unsent: true,
                    answered: false,
                    closed: true,
                },
                unsent: Some(request),
                spare: None,
            })
        }
        Err(SendError::Failed(error)) => {
            let (_, answered) = traffic.since(mark);
            let closed = retry::is_closed(&error);
            Err(Failure {
                error: Error::from(error).with_origin(origin),
                failed: Failed {
                    reused,
                    unsent: false,
                    answered,
                    closed,
                },
                unsent: None,
                spare,
            })
        }
    }
}

/// Puts the target in origin form: the path and query, `/` when empty.
fn to_origin_form(request: &mut Request<Body>) {
    let target = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(target);
}

/// A copy of a request whose body is replayable.
fn copy(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_becomes_origin_form() {
        let mut request = Request::get("http://example.com:8080/a/b?c=d")
            .body(Body::empty())
            .unwrap();
        to_origin_form(&mut request);
        assert_eq!(request.uri(), "/a/b?c=d");
        let mut bare = Request::get("http://example.com")
            .body(Body::empty())
            .unwrap();
        to_origin_form(&mut bare);
        assert_eq!(bare.uri(), "/");
    }

    #[test]
    fn a_copy_keeps_method_target_headers_and_body() {
        let request = Request::put("/x")
            .header("x-a", "1")
            .body(Body::from("body"))
            .unwrap();
        let copied = copy(&request).unwrap();
        assert_eq!(
            (copied.method(), copied.uri()),
            (request.method(), request.uri())
        );
        assert_eq!(copied.headers(), request.headers());
        assert!(copy(&Request::new(Body::wrap(http_body_util::Empty::new()))).is_none());
    }
}
