//! The refresh loop: a snapshot every `--interval`, a view of it against
//! the one before, until Ctrl-C.

use std::io::{IsTerminal, Write};

use timewait_core::budget::PortBudget;

use super::render;
use super::view::WatchView;
use crate::cli::WatchArgs;
use crate::error::CliError;
use crate::kernel::source_name;
use crate::snapshot::{self, Snapshot};

/// Clears a terminal and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// One refresh: a snapshot and its view against `earlier`. This is what the
/// benchmark measures.
pub fn refresh(
    earlier: Option<&Snapshot>,
    budget: &PortBudget,
    top: usize,
) -> Result<(Snapshot, WatchView), CliError> {
    let reuse = timewait_core::sys::tcp_tw_reuse()?;
    let (now, source) = snapshot::take()?;
    let view = WatchView::build(&now, earlier, budget, reuse, source_name(source), top);
    Ok((now, view))
}

fn show(out: &mut dyn Write, view: &WatchView, json: bool, clear: bool) -> Result<(), CliError> {
    if json {
        serde_json::to_writer(&mut *out, view)?;
        writeln!(out)?;
    } else {
        if clear {
            write!(out, "{CLEAR}")?;
        } else {
            writeln!(out)?;
        }
        render::text(out, view)?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `timewait watch`.
pub fn run(args: &WatchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let budget = timewait_core::sys::port_budget()?;
    if args.once {
        let first = if args.interval.is_zero() {
            None
        } else {
            let (first, _) = refresh(None, &budget, args.top)?;
            std::thread::sleep(args.interval);
            Some(first)
        };
        let (_, view) = refresh(first.as_ref(), &budget, args.top)?;
        if args.json {
            serde_json::to_writer_pretty(&mut *out, &view)?;
            writeln!(out)?;
            out.flush()?;
            return Ok(());
        }
        return show(out, &view, false, false);
    }
    let clear = !args.json && std::io::stdout().is_terminal();
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
            let (now, view) = refresh(earlier.as_ref(), &budget, args.top)?;
            show(out, &view, args.json, clear)?;
            earlier = Some(now);
            tokio::select! {
                _ = interrupt.recv() => return Ok(()),
                () = tokio::time::sleep(args.interval) => {}
            }
        }
    })
}
