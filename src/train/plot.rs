//! Pictures, drawn with `plotters` into PNGs written atomically: training curves (one panel
//! per logged value, training and validation, with title, axis labels, ticks and legend), a
//! confusion-matrix heatmap, and image grids (feature maps, augmentation previews). The text
//! is DejaVu Sans, embedded, so no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use super::History;
use crate::error::{write_atomic, Error, Result};

const FONT: &str = "sans-serif";
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALID: RGBColor = RGBColor(255, 127, 14);

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        // A font that fails to parse leaves plotters without text; the draw calls then fail
        // with an error the callers report.
        let _ = register_font(FONT, FontStyle::Normal, bytes);
    });
}

/// Draws with `f` on a white `w`×`h` canvas and writes it to `path` as a PNG.
fn png(
    path: &Path,
    (w, h): (u32, u32),
    f: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    register();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        f(&root).map_err(|e| Error::format(path, format!("cannot draw the picture: {e}")))?;
        root.present()
            .map_err(|e| Error::format(path, format!("cannot draw the picture: {e}")))?;
    }
    let img = image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| Error::format(path, "picture buffer of the wrong size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::format(path, format!("cannot encode the PNG: {e}")))?;
    write_atomic(path, out.get_ref())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Axis range of the values, padded by 5% (a flat series gets a unit-wide range).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = match hi - lo {
        d if d > 0.0 => 0.05 * d,
        _ => 0.5,
    };
    (lo - pad, hi + pad)
}

impl History {
    /// Writes the training curves to a PNG at `path` (atomically): one panel per logged value
    /// (`loss`, `accuracy`, each head's loss and metrics), training in blue and validation in
    /// orange, against the epoch.
    pub fn plot_png(&self, path: &Path) -> Result<()> {
        let names: Vec<String> = self
            .epochs
            .first()
            .map(|e| e.train.values.iter().map(|v| v.0.clone()).collect())
            .unwrap_or_default();
        if names.is_empty() {
            return Err(Error::Model("no epochs to plot".into()));
        }
        let cols = names.len().min(3);
        let rows = names.len().div_ceil(cols);
        let size = (420 * cols as u32, 40 + 300 * rows as u32);
        png(path, size, |root| {
            let root = root.titled("Training curves", (FONT, 22)).map_err(err)?;
            for (area, name) in root.split_evenly((rows, cols)).iter().zip(&names) {
                let series = |valid: bool| -> Vec<(f64, f64)> {
                    let logs = self.epochs.iter().filter_map(|e| match valid {
                        true => e.valid.as_ref().map(|v| (e.epoch, v)),
                        false => Some((e.epoch, &e.train)),
                    });
                    logs.filter_map(|(i, m)| m.get(name).map(|v| (i as f64 + 1.0, v)))
                        .collect()
                };
                let (train, valid) = (series(false), series(true));
                let first = self.epochs.first().map_or(1.0, |e| e.epoch as f64 + 1.0);
                let last = self.epochs.last().map_or(1.0, |e| e.epoch as f64 + 1.0);
                let (x0, x1) = match last > first {
                    true => (first, last),
                    false => (first - 0.5, first + 0.5),
                };
                let (lo, hi) = range(train.iter().chain(&valid).map(|p| p.1));
                let mut chart = ChartBuilder::on(area)
                    .caption(name, (FONT, 16))
                    .margin(10)
                    .x_label_area_size(36)
                    .y_label_area_size(56)
                    .build_cartesian_2d(x0..x1, lo..hi)
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .y_desc(name.as_str())
                    .x_labels(self.epochs.len().clamp(2, 10))
                    .x_label_formatter(&|v| match (v - v.round()).abs() < 1e-6 {
                        true => format!("{v:.0}"),
                        false => String::new(),
                    })
                    .label_style((FONT, 12))
                    .draw()
                    .map_err(err)?;
                for (points, color, label) in
                    [(train, TRAIN, "train"), (valid, VALID, "validation")]
                {
                    if points.is_empty() {
                        continue;
                    }
                    chart
                        .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                        .map_err(err)?
                        .label(label)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        });
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(err)?;
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.4))
                    .label_font((FONT, 12))
                    .draw()
                    .map_err(err)?;
            }
            Ok(())
        })
    }
}

/// Writes a confusion matrix (rows: true class, columns: predicted) as a heatmap PNG: each
/// cell shaded by its share of the row, with its count; the diagonal is the correct
/// predictions. `classes` names the rows and columns.
pub fn confusion_png(
    path: &Path,
    matrix: &[Vec<usize>],
    classes: &[&str],
    title: &str,
) -> Result<()> {
    let n = matrix.len();
    if n == 0 || classes.len() != n || matrix.iter().any(|r| r.len() != n) {
        return Err(Error::invalid(
            "confusion_png",
            "matrix",
            format!("{n} rows for {} classes", classes.len()),
            "must be square with one row and column per class",
        ));
    }
    let cell = (560 / n as u32).clamp(28, 64);
    let side = cell * n as u32;
    png(path, (side + 190, side + 150), |root| {
        let root = root.titled(title, (FONT, 20)).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(40)
            .x_label_area_size(70)
            .y_label_area_size(100)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(err)?;
        // Integer ranges are inclusive in plotters: 0..n − 1 is n segments. Row 0 at the top.
        let label = |v: &SegmentValue<usize>, flip: bool| match *v {
            SegmentValue::CenterOf(i) if i < n => {
                classes[if flip { n - 1 - i } else { i }].to_string()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true class")
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|v| label(v, false))
            .y_label_formatter(&|v| label(v, true))
            .label_style((FONT, 11))
            .draw()
            .map_err(err)?;
        let font = (cell / 3).clamp(9, 16);
        for (r, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            for (c, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let shade = |full: u8| (255.0 - (255.0 - f64::from(full)) * share) as u8;
                let color = RGBColor(shade(8), shade(48), shade(107));
                let y = n - 1 - r;
                let at = |x: usize, y: usize| (SegmentValue::Exact(x), SegmentValue::Exact(y));
                let (top_left, bottom_right) = (at(c, y + 1), at(c + 1, y));
                chart
                    .draw_series([Rectangle::new([top_left, bottom_right], color.filled())])
                    .map_err(err)?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let style = TextStyle::from((FONT, font).into_font())
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let centre = (SegmentValue::CenterOf(c), SegmentValue::CenterOf(y));
                chart
                    .draw_series([Text::new(count.to_string(), centre, style)])
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}

/// One picture of an image grid: `channels` × `h` × `w` values (1 channel grey, 3 RGB),
/// with a caption.
pub struct Tile<'a> {
    /// Its caption (empty for none).
    pub label: String,
    /// `[channels, h, w]`: 1 or 3 channels.
    pub shape: [usize; 3],
    /// The values, channel-major.
    pub data: &'a [f32],
}

/// Writes `tiles` as a grid PNG of `cols` columns under `title`, each tile scaled to `px`
/// pixels on its longer side. With `normalize` each tile is stretched to its own min..max
/// (feature maps); otherwise values are read as 0..1 intensities (images).
pub fn grid_png(
    path: &Path,
    tiles: &[Tile<'_>],
    cols: usize,
    px: u32,
    normalize: bool,
    title: &str,
) -> Result<()> {
    let bad = tiles.iter().find(|t| {
        !matches!(t.shape[0], 1 | 3) || t.shape.iter().product::<usize>() != t.data.len()
    });
    if tiles.is_empty() || cols == 0 || px == 0 || bad.is_some() {
        return Err(Error::invalid(
            "grid_png",
            "tiles",
            format!("{} tiles, {cols} columns", tiles.len()),
            "needs tiles of [1 or 3, h, w] values filling their shape, and columns ≥ 1",
        ));
    }
    let cols = cols.min(tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let (cw, ch) = (px + 12, px + 28);
    png(path, (cw * cols as u32, 40 + ch * rows as u32), |root| {
        let root = root.titled(title, (FONT, 18)).map_err(err)?;
        for (i, tile) in tiles.iter().enumerate() {
            let (ox, oy) = (
                (i % cols) as i32 * cw as i32 + 6,
                (i / cols) as i32 * ch as i32,
            );
            draw_tile(&root, tile, (ox, oy + 2), px, normalize)?;
            let style = TextStyle::from((FONT, 12).into_font()).color(&BLACK);
            root.draw_text(&tile.label, &style, (ox, oy + px as i32 + 6))
                .map_err(err)?;
        }
        Ok(())
    })
}

fn draw_tile(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    t: &Tile<'_>,
    (ox, oy): (i32, i32),
    px: u32,
    normalize: bool,
) -> std::result::Result<(), String> {
    let [c, h, w] = t.shape;
    let (lo, hi) = match normalize {
        true => t
            .data
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v))),
        false => (0.0, 1.0),
    };
    let span = if hi > lo { hi - lo } else { 1.0 };
    let scale = f64::from(px) / h.max(w) as f64;
    let level = |v: f32| (((v - lo) / span).clamp(0.0, 1.0) * 255.0) as u8;
    for y in 0..h {
        for x in 0..w {
            let at = |k: usize| t.data[(k * h + y) * w + x];
            let color = match c {
                3 => RGBColor(level(at(0)), level(at(1)), level(at(2))),
                _ => {
                    let g = level(at(0));
                    RGBColor(g, g, g)
                }
            };
            let x0 = ox + (x as f64 * scale) as i32;
            let y0 = oy + (y as f64 * scale) as i32;
            let x1 = ox + ((x + 1) as f64 * scale) as i32;
            let y1 = oy + ((y + 1) as f64 * scale) as i32;
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))
                .map_err(err)?;
        }
    }
    Ok(())
}
