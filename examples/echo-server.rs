//! A line echo server that closes first, so TIME_WAIT lands on it.
//!
//! It echoes newline-delimited lines, one task per connection, on loopback by
//! default (`127.0.0.1:7878`). When a client sends the line `QUIT`, the server
//! flushes what it owes and closes: it sends the first FIN, so the
//! connection's TIME_WAIT entry is the server's, and a client that reads that
//! FIN before closing keeps none. The server also closes connections idle
//! past `--idle-timeout` (30 s; `0` keeps them open), again first. A client
//! closing first, a reset, an error or an over-long line end a connection
//! too; each ending is counted and logged (`RUST_LOG=debug` shows them all).
//!
//! The first line on stdout is `listening on ADDR`. With port 0 the server
//! takes a port that no other socket mentions, so counting TIME_WAIT by its
//! port counts its own connections only. Ctrl-C (or SIGTERM) closes every
//! open connection, server first, and prints the counts.
//!
//! Run it in one terminal, and the echo client (or `nc`) in another; the
//! census example shows where TIME_WAIT landed. (The demo runs this same
//! server in-process, on a fresh port per scenario.)
//!
//! ```text
//! cargo run --example echo-server
//! cargo run --example echo-client -- --server 127.0.0.1:7878 --policy peer-first
//! cargo run --example census -- --port 7878
//! ```

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use timewait_echo::{EchoServer, EchoStats};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// A line echo server that closes first on `QUIT` and on idle connections.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on; port 0 picks a port no other socket uses.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// Close connections idle this long (`30s`, `500ms`, `2m`); `0` never.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo-server: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> io::Result<()> {
    let listener = listen(args.listen).await?;
    let idle = (!args.idle_timeout.is_zero()).then_some(args.idle_timeout);
    let server = EchoServer::new(listener).idle_timeout(idle).spawn();
    // Flushed at once, so a script reading it can connect.
    let mut out = io::stdout();
    writeln!(out, "listening on {}", server.local_addr())?;
    out.flush()?;
    tracing::info!(addr = %server.local_addr(), idle_timeout = ?idle, "echo server started");

    let stopped_by = stop_signal().await;
    let stats = server.shutdown().await;
    match stopped_by {
        Ok(signal) => {
            tracing::info!(signal, "stopped; every connection closed");
            write_counts(&mut out, &stats)?;
            Ok(())
        }
        Err(error) => {
            write_counts(&mut out, &stats)?;
            Err(io::Error::new(
                error.kind(),
                format!("cannot wait for Ctrl-C or SIGTERM, so stopped at once: {error}"),
            ))
        }
    }
}

/// A listener on `addr`; for port 0, one whose port no other socket mentions.
async fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = if addr.port() == 0 {
        timewait_echo::fresh_listener(addr.ip()).await
    } else {
        TcpListener::bind(addr).await
    };
    listener.map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot listen on {addr}: {error}; pick another --listen address"),
        )
    })
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM; returns its name.
async fn stop_signal() -> io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            ctrl_c = tokio::signal::ctrl_c() => ctrl_c.map(|()| "SIGINT"),
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
    }
}

fn write_counts(out: &mut dyn Write, stats: &EchoStats) -> io::Result<()> {
    writeln!(out, "connections accepted      {}", stats.accepted)?;
    writeln!(out, "lines echoed              {}", stats.lines)?;
    writeln!(
        out,
        "closed first by server    {} (QUIT {}, idle {}, shutdown {}): TIME_WAIT here",
        stats.closed_first_by_server(),
        stats.quit,
        stats.idle_timeout,
        stats.hung_up
    )?;
    writeln!(
        out,
        "closed first by client    {}: TIME_WAIT on the client",
        stats.client_closed
    )?;
    writeln!(
        out,
        "reset, failed             {}, {}",
        stats.reset, stats.failed
    )?;
    writeln!(out, "accept errors             {}", stats.accept_errors)?;
    out.flush()
}
