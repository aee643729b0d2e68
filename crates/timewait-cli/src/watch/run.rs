//! The refresh loop: a snapshot every `--interval`, a view of it against
//! the one before, until Ctrl-C.

use std::io::{IsTerminal, Write};

use super::render;
use super::view::WatchView;
use crate::cli::WatchArgs;
use crate::error::CliError;
use crate::kernel::source_name;
use crate::snapshot::{self, Snapshot};

/// Clears a terminal and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// One refresh: the port sysctls (read each time, so that a change shows),
/// a snapshot, and its view against `earlier`. This is what the benchmark
/// measures.
pub fn refresh(earlier: Option<&Snapshot>, top: usize) -> Result<(Snapshot, WatchView), CliError> {
    let budget = timewait_core::sys::port_budget()?;
    let reuse = timewait_core::sys::tcp_tw_reuse()?;
    let (now, source) = snapshot::take()?;
    let view = WatchView::build(&now, earlier, &budget, reuse, source_name(source), top);
    Ok((now, view))
}

/// How a view is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// One JSON object on one line.
    JsonLine,
    /// One JSON object, indented.
    JsonPretty,
    /// Tables after clearing the terminal.
    Screen,
    /// Tables after a blank line (not a terminal).
    Log,
    /// Tables alone.
    Once,
}

fn show(out: &mut dyn Write, view: &WatchView, style: Style) -> Result<(), CliError> {
    match style {
        Style::JsonLine => {
            serde_json::to_writer(&mut *out, view)?;
            writeln!(out)?;
        }
        Style::JsonPretty => {
            serde_json::to_writer_pretty(&mut *out, view)?;
            writeln!(out)?;
        }
        Style::Screen | Style::Log | Style::Once => {
            match style {
                Style::Screen => write!(out, "{CLEAR}")?,
                Style::Log => writeln!(out)?,
                _ => {}
            }
            render::text(out, view)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs `timewait watch`.
pub fn run(args: &WatchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.once {
        let first = if args.interval.is_zero() {
            None
        } else {
            let (first, _) = refresh(None, args.top)?;
            std::thread::sleep(args.interval);
            Some(first)
        };
        let (_, view) = refresh(first.as_ref(), args.top)?;
        let style = if args.json {
            Style::JsonPretty
        } else {
            Style::Once
        };
        return show(out, &view, style);
    }
    let style = match (args.json, std::io::stdout().is_terminal()) {
        (true, _) => Style::JsonLine,
        (false, true) => Style::Screen,
        (false, false) => Style::Log,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered before the first snapshot, so an early Ctrl-C ends the
        // loop cleanly too.
        let mut interrupt = signal(SignalKind::interrupt()).map_err(CliError::Runtime)?;
        let mut earlier = None;
        loop {
            let (now, view) = refresh(earlier.as_ref(), args.top)?;
            show(out, &view, style)?;
            earlier = Some(now);
            tokio::select! {
                _ = interrupt.recv() => return Ok(()),
                () = tokio::time::sleep(args.interval) => {}
            }
        }
    })
}
