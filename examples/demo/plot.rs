//! `--plot`: an SVG chart of each scenario's TIME_WAIT entries over time, one
//! panel per scenario (each with its own scale), the client side as a solid
//! line and the server side as a dashed one.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use timewait::pool::BoxError;

use crate::sampler::Samples;

/// The width of the chart, and the height of one panel, in pixels.
const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 260;
const CLIENT: RGBColor = RGBColor(200, 40, 40);
const SERVER: RGBColor = RGBColor(30, 90, 200);

/// Writes the chart of `runs` (scenario name, its samples) to `path`.
pub(crate) fn write_svg(path: &Path, runs: &[(&'static str, &Samples)]) -> Result<(), BoxError> {
    let panels = u32::try_from(runs.len().max(1))?;
    let root = SVGBackend::new(path, (WIDTH, PANEL_HEIGHT * panels + 40)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "TIME_WAIT entries of each scenario's connections, by side (kernel census)",
        ("sans-serif", 20),
    )?;
    for (area, (name, samples)) in root.split_evenly((runs.len().max(1), 1)).iter().zip(runs) {
        panel(area, name, samples)?;
    }
    root.present()?;
    Ok(())
}

/// One scenario's panel.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    name: &str,
    samples: &Samples,
) -> Result<(), BoxError> {
    let points = &samples.points;
    let start = points.first().map_or(0.0, |p| p.at);
    let end = points.last().map_or(1.0, |p| p.at).max(start + 0.01);
    let top = points
        .iter()
        .map(|p| p.sides.client.max(p.sides.server))
        .max()
        .unwrap_or(0);
    // Headroom above the highest line, and a visible axis when all are 0.
    let top = (top + top / 10).max(10) as f64;

    let mut chart = ChartBuilder::on(area)
        .caption(name, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(start..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the demo started")
        .y_desc("TIME_WAIT entries")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;

    let client = points.iter().map(|p| (p.at, p.sides.client as f64));
    chart
        .draw_series(LineSeries::new(client, CLIENT.stroke_width(2)))?
        .label(format!("{name}: client side"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], CLIENT.stroke_width(2)));
    let server: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.at, p.sides.server as f64))
        .collect();
    chart
        .draw_series(DashedLineSeries::new(server, 6, 4, SERVER.stroke_width(2)))?
        .label(format!("{name}: server side"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 8, y)], SERVER.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
