//! A `watch` view as text.

use std::io::Write;

use super::view::WatchView;
use crate::fmt::{rate, seconds, thousands};

/// Writes `view` as two tables: destinations, then listening ports.
pub fn text(out: &mut dyn Write, view: &WatchView) -> std::io::Result<()> {
    let interval = view.elapsed_ms.map_or_else(
        || "one snapshot: no rates yet".to_owned(),
        |ms| format!("rates over {ms} ms"),
    );
    writeln!(
        out,
        "TIME_WAIT here: {} client side, {} server side ({}; {}); {} usable ports per source IP, tcp_tw_reuse={}",
        thousands(view.client_time_wait as u64),
        thousands(view.server_time_wait as u64),
        view.source,
        interval,
        thousands(u64::from(view.usable_ports)),
        view.tcp_tw_reuse,
    )?;
    writeln!(
        out,
        "\n{:<24} {:>9} {:>6} {:>7} {:>9} {:>8} {:>18}",
        "destination", "TIME_WAIT", "estab", "ports", "headroom", "new/s", "connect() fails"
    )?;
    for d in &view.destinations {
        let per_second = d.rate_per_second.map_or_else(|| "-".to_owned(), rate);
        let fails = match (d.exhaustion, d.exhaustion_secs) {
            ("now", _) => "now".to_owned(),
            ("in", Some(t)) => format!("in {}", seconds(t)),
            ("never", _) => "never at this rate".to_owned(),
            ("reuse", _) => "no (tw_reuse)".to_owned(),
            _ => "-".to_owned(),
        };
        writeln!(
            out,
            "{:<24} {:>9} {:>6} {:>7} {:>9} {:>8} {:>18}",
            d.remote,
            thousands(d.time_wait as u64),
            thousands((d.established + d.other_open) as u64),
            thousands(d.ports),
            thousands(d.headroom),
            per_second,
            fails
        )?;
    }
    let hidden = view.destinations_total - view.destinations.len();
    if hidden > 0 {
        writeln!(out, "… and {hidden} more destinations (--top)")?;
    }
    writeln!(
        out,
        "\n{:<14} {:>16} {:>16} {:>8}  TIME_WAIT held by",
        "listening port", "server-side TW", "client-side TW", "new/s"
    )?;
    for l in &view.listening {
        let per_second = l
            .server_rate_per_second
            .map_or_else(|| "-".to_owned(), rate);
        writeln!(
            out,
            "{:<14} {:>16} {:>16} {:>8}  {}",
            l.port,
            thousands(l.server_time_wait as u64),
            thousands(l.client_time_wait as u64),
            per_second,
            l.held_by
        )?;
    }
    Ok(())
}
