//! The chart of the real-paths acceptance matrix (`cargo bench -p mptcp-sim
//! --bench real_paths` writes it as CSV): one line per row, one dot per
//! congestion controller under the default scheduler, on one axis: MPTCP's
//! goodput over the sum of the single paths (disjoint rows; a tick marks
//! where the best single path alone is) or over the competing TCP's (the
//! shared bottleneck).

use super::{FAMILY, PATH_COLOURS, register_fonts, text};
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Pixels above the chart: title, explanation, legend.
const HEAD: i32 = 130;

/// One dot: a controller's result on one row.
struct Dot {
    cc: String,
    value: f64,
}

/// One row of the chart.
struct MatrixRow {
    name: String,
    shared: bool,
    /// Disjoint rows: the best single path over the sum.
    best_of_sum: Option<f64>,
    dots: Vec<Dot>,
}

/// Splits one CSV line (fields may be quoted, with `""` for a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The rows of `csv` under the scheduler of its default configuration.
fn parse(csv: &str) -> Result<Vec<MatrixRow>, String> {
    let mut lines = csv.lines();
    let header = csv_fields(lines.next().ok_or("the file is empty")?);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no column {name:?} (not a real_paths CSV?)"))
    };
    let (row, kind, cc, sched, default) = (
        col("row")?,
        col("kind")?,
        col("cc")?,
        col("scheduler")?,
        col("default")?,
    );
    let (best, sum, x_best, mptcp) = (
        col("best_mbps")?,
        col("sum_mbps")?,
        col("x_best")?,
        col("mptcp_mbps")?,
    );
    let records: Vec<Vec<String>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(csv_fields)
        .collect();
    let width = header.len();
    if let Some(bad) = records.iter().position(|r| r.len() != width) {
        return Err(format!("line {}: {width} fields expected", bad + 2));
    }
    let scheduler = records
        .iter()
        .find(|r| r[default] == "true")
        .map(|r| r[sched].clone())
        .unwrap_or_else(|| "minrtt".to_owned());
    let num = |r: &[String], i: usize| -> Result<f64, String> {
        r[i].parse()
            .map_err(|_| format!("{:?} is not a number ({})", r[i], header[i]))
    };
    let mut rows: Vec<MatrixRow> = Vec::new();
    for r in records.iter().filter(|r| r[sched] == scheduler) {
        let shared = r[kind] == "shared";
        let value = if shared {
            num(r, x_best)?
        } else {
            let s = num(r, sum)?;
            if s > 0.0 { num(r, mptcp)? / s } else { 0.0 }
        };
        let best_of_sum = (!shared)
            .then(|| Ok::<f64, String>(num(r, best)? / num(r, sum)?.max(1e-9)))
            .transpose()?;
        let dot = Dot {
            cc: r[cc].clone(),
            value,
        };
        match rows.iter_mut().find(|m| m.name == r[row]) {
            Some(m) => m.dots.push(dot),
            None => rows.push(MatrixRow {
                name: r[row].clone(),
                shared,
                best_of_sum,
                dots: vec![dot],
            }),
        }
    }
    if rows.is_empty() {
        return Err("no rows".to_owned());
    }
    Ok(rows)
}

/// Draw the chart of the CSV file `csv` into the PNG file `png`.
pub(crate) fn write(csv: &Path, png: &Path, title: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let rows = parse(&text).map_err(|e| format!("{}: {e}", csv.display()))?;
    register_fonts()?;
    let fonts = text::Fonts::load()?;
    let height = HEAD as u32 + 80 + 44 * rows.len() as u32;
    let root =
        text::TextBackend::new(BitMapBackend::new(png, (1400, height)), fonts).into_drawing_area();
    draw(&root, &rows, title).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Controllers in the order of the legend, and their colours.
fn colour_of(ccs: &[String], cc: &str) -> RGBColor {
    let i = ccs.iter().position(|c| c == cc).unwrap_or(0);
    PATH_COLOURS[i % PATH_COLOURS.len()]
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[MatrixRow],
    title: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let bold = (FAMILY, 26).into_font().style(FontStyle::Bold);
    root.draw_text(title, &bold.color(&BLACK), (24, 14))?;
    let small = (FAMILY, 16).into_font();
    let grey = RGBColor(80, 80, 80);
    let lines = [
        "Disjoint rows: MPTCP goodput / the sum of plain TCP over each path alone (aim: right of \
         the dashed 0.9); the grey tick is the best single path alone (aim: right of it).",
        "Shared bottleneck: MPTCP goodput / that of the plain TCP beside it (aim: left of the \
         dashed 1.25). Dots: congestion controllers, default scheduler.",
    ];
    for (k, line) in lines.iter().enumerate() {
        root.draw_text(line, &small.color(&grey), (24, 50 + 22 * k as i32))?;
    }
    let mut ccs: Vec<String> = Vec::new();
    for d in rows.iter().flat_map(|r| &r.dots) {
        if !ccs.contains(&d.cc) {
            ccs.push(d.cc.clone());
        }
    }
    let n = rows.len() as f64;
    let x_max = rows
        .iter()
        .flat_map(|r| &r.dots)
        .map(|d| d.value)
        .fold(1.3f64, f64::max)
        * 1.05;
    let (_, body) = root.split_vertically(HEAD);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(440)
        .margin_right(30)
        .margin_bottom(10)
        .x_label_area_size(50)
        .build_cartesian_2d(0f64..x_max, 0f64..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(12)
        .x_desc("MPTCP goodput / reference")
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 15))
        .bold_line_style(RGBColor(218, 218, 218))
        .light_line_style(WHITE)
        .draw()?;
    // Thresholds: 0.9 of the sum (disjoint rows), 1.25 x TCP (shared).
    let y_of = |i: usize| n - i as f64 - 0.5;
    let dashed = |x: f64, y0: f64, y1: f64, colour: RGBColor| {
        DashedLineSeries::new([(x, y0), (x, y1)], 8, 6, colour.stroke_width(2))
    };
    let red = RGBColor(200, 40, 40);
    for (i, r) in rows.iter().enumerate() {
        let (y0, y1) = (y_of(i) - 0.45, y_of(i) + 0.45);
        let limit = if r.shared { 1.25 } else { 0.9 };
        chart.draw_series(dashed(limit, y0, y1, red))?;
        if let Some(b) = r.best_of_sum {
            chart.draw_series(std::iter::once(PathElement::new(
                [(b, y0 + 0.1), (b, y1 - 0.1)],
                RGBColor(120, 120, 120).stroke_width(4),
            )))?;
        }
        let count = r.dots.len().max(1) as f64;
        for (k, d) in r.dots.iter().enumerate() {
            // Spread the controllers vertically inside the row.
            let y = y_of(i) + 0.3 - 0.6 * (k as f64 + 0.5) / count;
            let colour = colour_of(&ccs, &d.cc);
            chart.draw_series(std::iter::once(Circle::new(
                (d.value, y),
                5,
                colour.filled(),
            )))?;
        }
        let (px, py) = chart.backend_coord(&(0.0, y_of(i)));
        let label = (FAMILY, 16)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        root.draw_text(&r.name, &label, (px - 12, py))?;
    }
    // The legend, under the title.
    let mut x = 24;
    for cc in &ccs {
        let colour = colour_of(&ccs, cc);
        root.draw(&Circle::new((x + 6, 110), 6, colour.filled()))?;
        root.draw_text(cc, &(FAMILY, 16).into_font().color(&BLACK), (x + 18, 101))?;
        x += 30 + 9 * cc.len() as i32 + 20;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_unquote() {
        assert_eq!(
            csv_fields(r#"a,"b, c","d ""e""",,f"#),
            ["a", "b, c", "d \"e\"", "", "f"]
        );
    }

    #[test]
    fn rows_take_the_default_scheduler_and_the_right_ratio() {
        let csv = "row,kind,cc,scheduler,default,mptcp_mbps,best_mbps,sum_mbps,x_best\n\
                   \"a, b\",disjoint,lia,minrtt,true,90,60,100,1.5\n\
                   \"a, b\",disjoint,lia,ecf,false,10,60,100,0.2\n\
                   \"a, b\",disjoint,reno,minrtt,false,95,60,100,1.6\n\
                   s,shared,lia,minrtt,true,20,25,0,0.8\n";
        let rows = parse(csv).expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "a, b");
        let values: Vec<f64> = rows[0].dots.iter().map(|d| d.value).collect();
        assert_eq!(values, [0.9, 0.95]);
        assert_eq!(rows[0].best_of_sum, Some(0.6));
        assert!(rows[1].shared && rows[1].best_of_sum.is_none());
        assert_eq!(rows[1].dots[0].value, 0.8);
        assert!(parse("row,kind\n").is_err());
        assert!(parse("").is_err());
        let short = "row,kind,cc,scheduler,default,mptcp_mbps,best_mbps,sum_mbps,x_best\nx,y\n";
        assert!(parse(short).is_err());
    }
}
