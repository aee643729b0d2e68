//! The client composes in a `tower::ServiceBuilder` with tower-http's
//! layers, and with tower's own.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use http::Request;
use http::header::USER_AGENT;
use http_body_util::BodyExt;
use support::{Server, hello};
use timewait_http::{Body, Client};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::set_header::SetRequestHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[tokio::test]
async fn tower_http_layers_wrap_the_client() {
    let server = Server::start(hello()).await;
    let client = Client::new();
    let mut service = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ))
        .layer(SetRequestHeaderLayer::overriding(
            USER_AGENT,
            http::HeaderValue::from_static("timewait-test"),
        ))
        .service(client.clone());
    for _ in 0..3 {
        let request = Request::get(server.url("/")).body(Body::empty()).unwrap();
        let ready = ServiceExt::<Request<Body>>::ready(&mut service)
            .await
            .unwrap();
        let response = ready.call(request).await.unwrap();
        assert!(response.status().is_success());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello\n");
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.stats().total.activity.reuses, 2);
}

#[tokio::test(start_paused = true)]
async fn towers_timeout_bounds_a_server_that_never_answers() {
    let server = support::RawServer::start(|mut stream, _| async move {
        support::read_head(&mut stream).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    })
    .await;
    let client = Client::new();
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(2))
        .service(client.clone());
    let request = Request::get(server.url("/")).body(Body::empty()).unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
    // The cut-off exchange is never lent again.
    assert_eq!(client.stats().total.in_use, 0);
}
