//! PNG plots (plotters, bitmap backend). Text is drawn with DejaVu Sans from
//! Debian's `fonts-dejavu-core`, read at run time; without it the plots are
//! skipped with a warning and the report says so.

use std::{path::Path, sync::OnceLock};

use anyhow::{Context as _, Result, anyhow};
use plotters::{
    coord::ranged1d::{AsRangedCoord, SegmentValue, ValueFormatter},
    prelude::*,
    style::{FontStyle, register_font},
};

/// Where Debian puts the font.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FAMILY: &str = "sans-serif";

/// Registers the font once; an error says what to install.
fn font() -> Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| {
            format!("{FONT}: {e}; install Debian's fonts-dejavu-core for the plots")
        })?;
        register_font(
            FAMILY,
            FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .map_err(|_| format!("{FONT} is not a usable TrueType font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Series colours, in order.
pub const COLORS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
];

/// One horizontal bar: a median with its range over rounds.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    /// Index into [`COLORS`].
    pub color: usize,
}

/// Horizontal bars with range whiskers, top to bottom in the given order.
pub fn hbars(path: &Path, title: &str, x_desc: &str, bars: &[Bar]) -> Result<()> {
    font()?;
    let n = bars.len();
    let height = 120 + 28 * n as u32;
    let root = BitMapBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let xmax = bars.iter().map(|b| b.hi.max(b.value)).fold(0.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(260)
        .build_cartesian_2d(0f64..xmax.max(1e-9), (0..n).into_segmented())
        .map_err(draw)?;
    // Bar 0 at the top: the segment of bar i is n - 1 - i.
    let row = |i: usize| n - 1 - i;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(s) | SegmentValue::Exact(s) if *s < n => {
            bars[n - 1 - *s].label.clone()
        }
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&label)
        .x_desc(x_desc)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(draw)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let c = COLORS[b.color % COLORS.len()];
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row(i))),
                    (b.value, SegmentValue::Exact(row(i) + 1)),
                ],
                c.mix(0.75).filled(),
            );
            r.set_margin(4, 4, 0, 0);
            r
        }))
        .map_err(draw)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            PathElement::new(
                vec![
                    (b.lo, SegmentValue::CenterOf(row(i))),
                    (b.hi, SegmentValue::CenterOf(row(i))),
                ],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(draw)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            Text::new(
                format!("  {:.1}", b.value),
                (b.hi.max(b.value), SegmentValue::CenterOf(row(i))),
                (FAMILY, 13),
            )
        }))
        .map_err(draw)?;
    root.present().map_err(draw)?;
    Ok(())
}

/// One line of points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Index into [`COLORS`].
    pub color: usize,
    /// Draw the points as well as the line.
    pub marks: bool,
}

/// Axis scale.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Logarithmic, with plotters' own ticks.
    Log,
}

/// Lines over two axes, each linear or logarithmic; the legend in `legend`'s
/// corner.
pub fn xy(
    path: &Path,
    title: &str,
    (x_desc, x_scale): (&str, Scale),
    (y_desc, y_scale): (&str, Scale),
    series: &[Series],
    legend: SeriesLabelPosition,
) -> Result<()> {
    font()?;
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (x0, x1, y0, y1) = pts.fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let (x0, x1) = padded(x0, x1, x_scale, false);
    let (y0, y1) = padded(y0, y1, y_scale, true);
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let texts = (title, x_desc, y_desc, legend);
    match (x_scale, y_scale) {
        (Scale::Linear, Scale::Linear) => draw_xy(&root, texts, series, x0..x1, y0..y1),
        (Scale::Log, Scale::Linear) => draw_xy(&root, texts, series, (x0..x1).log_scale(), y0..y1),
        (Scale::Linear, Scale::Log) => draw_xy(&root, texts, series, x0..x1, (y0..y1).log_scale()),
        (Scale::Log, Scale::Log) => draw_xy(
            &root,
            texts,
            series,
            (x0..x1).log_scale(),
            (y0..y1).log_scale(),
        ),
    }?;
    root.present().map_err(draw)?;
    Ok(())
}

/// The axis range around `[lo, hi]` with a margin; a linear axis of positive
/// values starts at 0 when that is close.
fn padded(lo: f64, hi: f64, scale: Scale, zero: bool) -> (f64, f64) {
    match scale {
        Scale::Log => (lo / 1.3, hi * 1.3),
        Scale::Linear => {
            let span = (hi - lo).max(1e-9);
            let (mut a, b) = (lo - span * 0.08, hi + span * 0.08);
            if zero && lo >= 0.0 && lo < span {
                a = 0.0;
            }
            (a, b)
        }
    }
}

fn draw_xy<X, Y>(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    (title, x_desc, y_desc, legend): (&str, &str, &str, SeriesLabelPosition),
    series: &[Series],
    x: X,
    y: Y,
) -> Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64> + Ranged<ValueType = f64>,
    Y::CoordDescType: ValueFormatter<f64> + Ranged<ValueType = f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(draw)?;
    for s in series {
        let c = COLORS[s.color % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))
            .map_err(draw)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        if s.marks {
            chart
                .draw_series(s.points.iter().map(|&pt| Circle::new(pt, 4, c.filled())))
                .map_err(draw)?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .position(legend)
        .draw()
        .map_err(draw)?;
    Ok(())
}

/// An axis label: at most four decimals, no trailing zeros (`10`, `0.001`).
fn tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_owned() }
}

/// plotters' errors borrow the backend; keep only their text.
fn draw(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a plot: {e}")
}

/// Draws a plot with `f`, or says why not. Returns the file name on success.
pub fn make(dir: &Path, file: &str, f: impl FnOnce(&Path) -> Result<()>) -> Option<String> {
    let path = dir.join(file);
    match f(&path).with_context(|| format!("plot {}", path.display())) {
        Ok(()) => Some(file.to_owned()),
        Err(e) => {
            eprintln!("warning: {e:#}");
            None
        }
    }
}
