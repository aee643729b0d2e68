//! A minimal HTTP/1.1 server (hyper) for the `http-client` example to talk to
//! on this machine, so that both sides' TIME_WAIT can be counted.
//!
//! It answers every request with a short body and keeps connections alive
//! until the client asks to close (`Connection: close`), in which case it
//! closes first: the TIME_WAIT entry lands here, on the listening port. With
//! `--idle-timeout` it also closes connections that wait that long for their
//! next request, the way servers' keep-alive timeouts do.
//!
//! ```text
//! cargo run --release --example http-server -- --listen 127.0.0.1:8080 &
//! cargo run --release --example http-client -- --url http://127.0.0.1:8080/
//! cargo run --release --example http-client -- --url http://127.0.0.1:8080/ --client hyper-util
//! ```
//!
//! The first line on stdout is `listening on ADDR`. Ctrl-C (or SIGTERM)
//! stops it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// A keep-alive HTTP/1.1 server that closes first when asked.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Close a connection that waits this long for its next request
    /// (e.g. `5s`); by default connections stay open until the client asks.
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_timeout: Option<Duration>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut served: u64 = 0;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A full descriptor table or a connection reset before
                // accept: the listener itself is still good. A short pause
                // keeps a full table from turning this into a busy loop.
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        };
        served += 1;
        let mut builder = http1::Builder::new();
        if let Some(idle) = args.idle_timeout {
            // hyper's header read timeout runs while a kept-alive connection
            // waits for its next request: an idle close.
            builder.timer(TokioTimer::new()).header_read_timeout(idle);
        }
        let connection = builder.serve_connection(TokioIo::new(stream), service_fn(answer));
        tokio::spawn(async move {
            // A peer reset or an idle close ends a connection with an error;
            // neither concerns the other connections.
            let _ = connection.await;
        });
    }
    println!("stopped after {served} connections");
    Ok(())
}

async fn answer(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
}
