//! SVG charts for the reports, drawn with plotters' SVG backend.
//!
//! Every chart is a standalone `<svg>` string that is inlined into the HTML page, so a report
//! needs no files besides itself and no network. Text is left to the browser's sans-serif font
//! (plotters without its font features only estimates text sizes for layout).

pub use plotters::chart::SeriesLabelPosition;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
pub use plotters::style::RGBColor;

/// The palette (colour-blind safe, Okabe-Ito).
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const RED: RGBColor = RGBColor(213, 94, 0);
const GREY: RGBColor = RGBColor(150, 150, 150);

const SIZE: (u32, u32) = (560, 340);
const FONT: &str = "sans-serif";

/// One line of a chart.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub colour: RGBColor,
    /// Draw a dot on each point too (for short series, e.g. a few epochs).
    pub markers: bool,
}

/// Axes and decorations of a line chart.
pub struct Axes {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// Draw the dashed diagonal `y = x` (ROC chance line, perfect calibration).
    pub diagonal: bool,
    /// Label x ticks as integers (epochs).
    pub integer_x: bool,
    /// Where the legend goes (away from where the lines usually are).
    pub legend: SeriesLabelPosition,
}

/// plotters errors carry the backend's error type; the report only needs the message.
fn message<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw chart: {e:?}")
}

/// A line chart with a legend.
pub fn line_chart(axes: &Axes, series: &[Series]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(message)?;
        let (x0, x1) = padded(axes.x_range);
        let (y0, y1) = padded(axes.y_range);
        let mut chart = ChartBuilder::on(&root)
            .caption(&axes.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(58)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(message)?;
        let integer_x = axes.integer_x;
        chart
            .configure_mesh()
            .x_desc(axes.x_label.as_str())
            .y_desc(axes.y_label.as_str())
            .x_labels(if integer_x {
                ((x1 - x0).round() as usize + 1).min(12)
            } else {
                6
            })
            .x_label_formatter(&|v| {
                if integer_x {
                    format!("{}", v.round())
                } else {
                    tick(*v)
                }
            })
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style((FONT, 12))
            .draw()
            .map_err(message)?;
        if axes.diagonal {
            let lo = x0.max(y0);
            let hi = x1.min(y1);
            chart
                .draw_series(DashedLineSeries::new(
                    [(lo, lo), (hi, hi)],
                    6,
                    4,
                    GREY.stroke_width(1),
                ))
                .map_err(message)?;
        }
        for s in series {
            let colour = s.colour;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(message)?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            if s.markers {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(message)?;
            }
        }
        if series.iter().any(|s| !s.label.is_empty()) {
            legend(&mut chart, axes.legend.clone())?;
        }
        root.present().map_err(message)?;
    }
    Ok(svg)
}

/// One bar of a histogram: `[lower, upper)` and its count.
pub struct Bar {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
}

/// A histogram; `marker` draws a labelled vertical line (e.g. the truncation length).
pub fn histogram(
    title: &str,
    x_label: &str,
    bars: &[Bar],
    marker: Option<(f64, &str)>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(message)?;
        let x0 = bars.first().map_or(0.0, |b| b.lower);
        let mut x1 = bars.last().map_or(1.0, |b| b.upper);
        if let Some((m, _)) = marker {
            x1 = x1.max(m * 1.02);
        }
        let top = bars.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64 * 1.08;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(58)
            .build_cartesian_2d(x0..x1, 0.0..top)
            .map_err(message)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("texts")
            .x_label_formatter(&|v| format!("{}", v.round()))
            .y_label_formatter(&|v| format!("{}", v.round()))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style((FONT, 12))
            .draw()
            .map_err(message)?;
        chart
            .draw_series(bars.iter().map(|b| {
                Rectangle::new(
                    [(b.lower, 0.0), (b.upper, b.count as f64)],
                    BLUE.mix(0.75).filled(),
                )
            }))
            .map_err(message)?;
        if let Some((m, label)) = marker {
            chart
                .draw_series(DashedLineSeries::new(
                    [(m, 0.0), (m, top)],
                    6,
                    4,
                    RED.stroke_width(2),
                ))
                .map_err(message)?
                .label(label)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        root.present().map_err(message)?;
    }
    Ok(svg)
}

/// Draws the legend of the labelled series, in the same style on every chart.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 12))
        .draw()
        .map_err(message)
}

/// Widens a range that is empty or a single value so plotters can draw it.
fn padded((lo, hi): (f64, f64)) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

/// Tick text without float noise: 0.30000000000000004 -> "0.3".
fn tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Equal-width bins over `[0, max]` for non-negative integer values (e.g. lengths).
pub fn integer_bins(values: &[usize], bins: usize) -> Vec<Bar> {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let width = max.div_ceil(bins).max(1);
    let mut counts = vec![0usize; max / width + 1];
    for &v in values {
        counts[v / width] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(k, count)| Bar {
            lower: (k * width) as f64,
            upper: ((k + 1) * width) as f64,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_drop_float_noise() {
        assert_eq!(tick(0.1 + 0.2), "0.3");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(-0.00001), "0");
        assert_eq!(tick(0.0125), "0.0125");
    }

    #[test]
    fn integer_bins_cover_every_value_once() {
        let values = [0, 1, 5, 9, 10, 37, 37, 100];
        let bars = integer_bins(&values, 10);
        assert_eq!(bars.iter().map(|b| b.count).sum::<usize>(), values.len());
        assert_eq!(bars[0].lower, 0.0);
        assert_eq!(bars[0].upper, 10.0);
        // 100 lands in the last bar, which starts at 100.
        assert_eq!(bars.last().unwrap().lower, 100.0);
        assert_eq!(bars.last().unwrap().count, 1);
        assert_eq!(bars[3].count, 2);
    }

    #[test]
    fn charts_are_svg_with_their_text() {
        let axes = Axes {
            title: "Loss & accuracy".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            x_range: (1.0, 3.0),
            y_range: (0.0, 1.0),
            diagonal: true,
            integer_x: true,
            legend: SeriesLabelPosition::LowerRight,
        };
        let series = [Series {
            label: "train <loss>".into(),
            points: vec![(1.0, 0.7), (2.0, 0.5), (3.0, 0.4)],
            colour: BLUE,
            markers: true,
        }];
        let svg = line_chart(&axes, &series).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.trim_end().ends_with("</svg>"));
        // Text is escaped by the backend.
        assert!(svg.contains("Loss &amp; accuracy"));
        assert!(svg.contains("train &lt;loss&gt;"));
        assert_eq!(svg.matches("<circle").count(), 3);
        let bars = integer_bins(&[1, 2, 3, 50], 5);
        let svg = histogram("Lengths", "tokens", &bars, Some((40.0, "max_len 40"))).unwrap();
        assert!(svg.contains("max_len 40"));
        // A single-value range still draws.
        let flat = Axes {
            y_range: (0.5, 0.5),
            ..axes
        };
        assert!(line_chart(&flat, &series).is_ok());
    }
}
