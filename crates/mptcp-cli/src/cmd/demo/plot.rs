//! The throughput plot of `mptcp demo`: one line per path, the aggregate,
//! and the single-path references, as a PNG drawn with an embedded font
//! (DejaVu Sans, from the `dejavu` crate; no system fonts).

pub(crate) mod matrix;
mod text;

use super::{Summary, Timeline};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;

/// Image size in pixels.
const SIZE: (u32, u32) = (1280, 720);

/// Colours of the paths, in order (then repeated).
const PATH_COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The font family the plot asks for.
const FAMILY: &str = "sans-serif";

/// Each line is a centred moving average over this many bins either side.
const SMOOTH_HALF: usize = 2;

/// Give plotters' own text path the embedded fonts too (every text of the
/// plot goes through [`text::TextBackend`], but nothing then depends on it).
fn register_fonts() -> Result<(), String> {
    let bad = |_| "the embedded font does not load".to_owned();
    register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).map_err(bad)?;
    register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()).map_err(bad)
}

/// Draw the plot of `summary` and `timeline` into the PNG file `path`.
pub(crate) fn write(path: &Path, summary: &Summary, timeline: &Timeline) -> Result<(), String> {
    register_fonts()?;
    let fonts = text::Fonts::load()?;
    let root = text::TextBackend::new(BitMapBackend::new(path, SIZE), fonts).into_drawing_area();
    draw(&root, summary, timeline).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// What drawing on `DB` may fail with.
type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    summary: &Summary,
    timeline: &Timeline,
) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(112);
    draw_head(&head, summary)?;
    let x_max = (timeline.end_s * 1.02).max(timeline.bin_s);
    let paths: Vec<Vec<f64>> = timeline.paths.iter().map(|p| smooth(p)).collect();
    let total = smooth(&timeline.aggregate);
    let peak = paths
        .iter()
        .flatten()
        .chain(&total)
        .copied()
        .fold(summary.sum.max(summary.goodput), f64::max);
    // Headroom above the highest line for the legend.
    let y_max = nice_ceiling(peak * 1.42);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(16)
        .margin_right(32)
        .margin_bottom(12)
        .x_label_area_size(56)
        .y_label_area_size(76)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc(format!(
            "throughput (Mbit/s, {:.0} ms moving average)",
            timeline.bin_s * 1e3 * (2 * SMOOTH_HALF + 1) as f64
        ))
        .axis_desc_style((FAMILY, 19))
        .label_style((FAMILY, 16))
        .bold_line_style(RGBColor(218, 218, 218))
        .light_line_style(RGBColor(243, 243, 243))
        .x_labels(12)
        .y_labels(10)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    draw_references(&mut chart, summary, x_max)?;
    draw_lines(&mut chart, summary, timeline, &paths, &total)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(12)
        .legend_area_size(34)
        .label_font((FAMILY, 16))
        .background_style(WHITE.mix(0.92))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

/// The title, what was run, and the comparison.
fn draw_head<DB: DrawingBackend>(
    head: &DrawingArea<DB, plotters::coord::Shift>,
    summary: &Summary,
) -> DrawResult<(), DB> {
    let bold = (FAMILY, 28).into_font().style(FontStyle::Bold);
    head.draw_text(&title(summary.names.len()), &bold.color(&BLACK), (24, 14))?;
    let small = (FAMILY, 17).into_font();
    let grey = RGBColor(80, 80, 80);
    head.draw_text(&summary.setup(), &small.color(&grey), (24, 52))?;
    head.draw_text(&summary.comparison(), &small.color(&BLACK), (24, 78))
}

/// One line per path (`paths`) and the aggregate goodput (`total`), each
/// value at the middle of its bin.
fn draw_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    summary: &Summary,
    timeline: &Timeline,
    paths: &[Vec<f64>],
    total: &[f64],
) -> DrawResult<(), DB> {
    let at = |k: usize| ((k as f64 + 0.5) * timeline.bin_s).min(timeline.end_s);
    let points = |rates: &[f64]| -> Vec<(f64, f64)> {
        rates.iter().enumerate().map(|(k, &r)| (at(k), r)).collect()
    };
    for (i, rates) in paths.iter().enumerate() {
        let colour = PATH_COLOURS[i % PATH_COLOURS.len()];
        let label = format!(
            "{} {} (IP bytes delivered)",
            summary.names[i], summary.spec.paths[i].text
        );
        chart
            .draw_series(LineSeries::new(points(rates), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(3)));
    }
    let aggregate = RGBColor(20, 20, 20);
    chart
        .draw_series(LineSeries::new(points(total), aggregate.stroke_width(3)))?
        .label(format!(
            "MPTCP aggregate goodput (stream bytes read), {:.1} Mbit/s overall",
            summary.goodput
        ))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], aggregate.stroke_width(4)));
    Ok(())
}

/// The chart: seconds by Mbit/s.
type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Dashed horizontal lines: the sum of the single-path goodputs and the
/// best single path.
fn draw_references<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    summary: &Summary,
    x_max: f64,
) -> DrawResult<(), DB> {
    let grey = RGBColor(110, 110, 110);
    let (best, best_path) = summary.best;
    let lines = [
        (
            summary.sum,
            grey,
            format!(
                "sum of the paths alone (plain TCP): {:.1} Mbit/s",
                summary.sum
            ),
        ),
        (
            best,
            PATH_COLOURS[best_path % PATH_COLOURS.len()],
            format!(
                "best single path alone ({}, plain TCP): {best:.1} Mbit/s",
                summary.names[best_path]
            ),
        ),
    ];
    let show_sum = summary.names.len() > 1;
    for (value, colour, label) in lines.into_iter().skip(usize::from(!show_sum)) {
        let style = colour.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, value), (x_max, value)],
                10,
                7,
                style,
            ))?
            .label(label)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new([(0, 0), (9, 0)], style)
                    + PathElement::new([(15, 0), (24, 0)], style)
            });
    }
    Ok(())
}

/// The plot's title for `paths` paths.
fn title(paths: usize) -> String {
    let count = match paths {
        1 => return "MPTCP over one path vs plain TCP over it".to_owned(),
        2 => "two".to_owned(),
        3 => "three".to_owned(),
        4 => "four".to_owned(),
        n => n.to_string(),
    };
    format!("MPTCP over {count} paths at once vs plain TCP over each alone")
}

/// A centred moving average over `SMOOTH_HALF` values either side (fewer
/// at the ends).
fn smooth(v: &[f64]) -> Vec<f64> {
    (0..v.len())
        .map(|k| {
            let window = &v[k.saturating_sub(SMOOTH_HALF)..(k + SMOOTH_HALF + 1).min(v.len())];
            window.iter().sum::<f64>() / window.len() as f64
        })
        .collect()
}

/// The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a
/// power of ten) at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let scale = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * scale)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * scale)
}
