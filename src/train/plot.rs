//! Training curves as a PNG: loss (left panel) and accuracy (right panel) per epoch, training
//! in blue and validation in orange, axis ranges printed at the corners with a small built-in
//! digit font (no font files needed).

use std::path::Path;

use image::{Rgb, RgbImage};

use super::History;
use crate::error::{write_atomic, Error, Result};

const W: u32 = 480;
const H: u32 = 320;
const MARGIN: u32 = 52;
const TRAIN: Rgb<u8> = Rgb([31, 119, 180]);
const VALID: Rgb<u8> = Rgb([255, 127, 14]);
const AXIS: Rgb<u8> = Rgb([60, 60, 60]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);

/// 3×5 glyphs for `0123456789.%-`, one row per `u8` (3 low bits, left = 4).
const GLYPHS: [(char, [u8; 5]); 13] = [
    ('0', [7, 5, 5, 5, 7]),
    ('1', [2, 6, 2, 2, 7]),
    ('2', [7, 1, 7, 4, 7]),
    ('3', [7, 1, 7, 1, 7]),
    ('4', [5, 5, 7, 1, 1]),
    ('5', [7, 4, 7, 1, 7]),
    ('6', [7, 4, 7, 5, 7]),
    ('7', [7, 1, 1, 1, 1]),
    ('8', [7, 5, 7, 5, 7]),
    ('9', [7, 5, 7, 1, 7]),
    ('.', [0, 0, 0, 0, 2]),
    ('%', [5, 1, 2, 4, 5]),
    ('-', [0, 0, 7, 0, 0]),
];

fn text(img: &mut RgbImage, x: u32, y: u32, s: &str) {
    let scale = 2;
    for (i, ch) in s.chars().enumerate() {
        let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
            continue;
        };
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (i as u32 * 4 + col) * scale + dx;
                            let py = y + r as u32 * scale + dy;
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, AXIS);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>) {
    // A diverged run's infinite or NaN loss has no place on the axis: leave a gap.
    if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) {
        return;
    }
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()) * 2.0)
        .ceil()
        .clamp(1.0, f64::from(4 * W)) as usize;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
            let (px, py) = (x as i64 + dx, y as i64 + dy);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, c);
            }
        }
    }
}

/// One panel at horizontal offset `ox`: the series share the y range.
fn panel(img: &mut RgbImage, ox: u32, series: &[(Vec<f64>, Rgb<u8>)], percent: bool) {
    let (x0, x1, y0, y1) = (ox + MARGIN, ox + W - 12, 12, H - MARGIN);
    let all: Vec<f64> = series
        .iter()
        .flat_map(|(v, _)| v.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let (mut lo, mut hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    for k in 0..=4 {
        let y = y0 + (y1 - y0) * k / 4;
        for x in x0..=x1 {
            img.put_pixel(x, y, GRID);
        }
    }
    for x in x0..=x1 {
        img.put_pixel(x, y1, AXIS);
    }
    for y in y0..=y1 {
        img.put_pixel(x0, y, AXIS);
    }
    let n = series.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
    let px = |i: usize| f64::from(x0) + f64::from(x1 - x0) * i as f64 / (n.max(2) - 1) as f64;
    let py = |v: f64| f64::from(y1) - f64::from(y1 - y0) * (v - lo) / (hi - lo);
    for (v, c) in series {
        for i in 1..v.len() {
            line(img, (px(i - 1), py(v[i - 1])), (px(i), py(v[i])), *c);
        }
        if v.len() == 1 {
            line(img, (px(0) - 2.0, py(v[0])), (px(0) + 2.0, py(v[0])), *c);
        }
    }
    let label = |v: f64| match percent {
        true => format!("{:.1}%", v * 100.0),
        false => format!("{v:.3}"),
    };
    text(img, ox + 2, y0, &label(hi));
    text(img, ox + 2, y1 - 10, &label(lo));
    text(img, x1 - 16, y1 + 8, &n.to_string());
    text(img, x0, y1 + 8, "1");
}

impl History {
    /// Writes the loss and accuracy curves to a PNG at `path` (atomically).
    pub fn plot_png(&self, path: &Path) -> Result<()> {
        let mut img = RgbImage::from_pixel(2 * W, H, Rgb([255, 255, 255]));
        let pick = |f: &dyn Fn(&super::EpochLog) -> Option<f64>| -> Vec<f64> {
            self.epochs.iter().filter_map(f).collect()
        };
        let loss = vec![
            (pick(&|e| Some(e.train.loss)), TRAIN),
            (pick(&|e| e.valid.as_ref().map(|v| v.loss)), VALID),
        ];
        let acc = vec![
            (pick(&|e| e.train.accuracy), TRAIN),
            (pick(&|e| e.valid.as_ref().and_then(|v| v.accuracy)), VALID),
        ];
        panel(&mut img, 0, &loss, false);
        panel(&mut img, W, &acc, true);
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| Error::format(path, format!("cannot encode the PNG: {e}")))?;
        write_atomic(path, png.get_ref())
    }
}
