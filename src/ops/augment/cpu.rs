//! Plain reference augmentation in f64, the same draws and mapping as the shader.

use super::{AugmentParams, FillMode};
use crate::error::Result;
use crate::ops::backend::{AugmentBackend, CpuBackend};
use crate::ops::elementwise::cpu::pcg;
use crate::ops::host::{dims4, t, HostTensor};

/// Draw `k` of image `img`: uniform in [0, 1) with 24 bits (exact in f32).
pub fn draw(seed: u32, step: u32, img: u32, k: u32) -> f64 {
    let h = pcg(pcg(pcg(seed ^ pcg(step)) ^ img) ^ k);
    f64::from(h >> 8) / 16_777_216.0
}

/// Index `i` of an axis of `n` after the fill mode; `None` where the constant fills in.
pub fn fill_index(i: i64, n: i64, fill: FillMode) -> Option<i64> {
    if (0..n).contains(&i) {
        return Some(i);
    }
    match fill {
        FillMode::Constant(_) => None,
        FillMode::Nearest => Some(i.clamp(0, n - 1)),
        FillMode::Reflect => {
            let m = i.rem_euclid(2 * n);
            Some(if m >= n { 2 * n - 1 - m } else { m })
        }
        FillMode::Wrap => Some(i.rem_euclid(n)),
        FillMode::Mirror if n == 1 => Some(0),
        FillMode::Mirror => {
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            Some(if m >= n { period - m } else { m })
        }
    }
}

/// `x` `[n, c, h, w]` augmented as the shader does (its header has the formulas).
pub fn forward(
    x: &[f64],
    [n, c, h, w]: [usize; 4],
    p: &AugmentParams,
    seed: u32,
    step: u32,
) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    let hw = h * w;
    let s = p.max_shift as f64;
    let (cy, cx) = (0.5 * (h as f64 - 1.0), 0.5 * (w as f64 - 1.0));
    let f = |v: f32| f64::from(v);
    let (zoom_lo, zoom_hi) = (f(p.zoom.0), f(p.zoom.1));
    let (lo, hi) = (f(p.value_range.0), f(p.value_range.1));
    let fill_value = f(p.fill.code().1);
    for img in 0..n {
        let d = |k| draw(seed, step, img as u32, k);
        let span = 2.0 * s + 1.0;
        let sy = (d(1) * span).floor() - s + (2.0 * d(8) - 1.0) * f(p.translate.0) * h as f64;
        let sx = (d(2) * span).floor() - s + (2.0 * d(9) - 1.0) * f(p.translate.1) * w as f64;
        let angle = (2.0 * d(3) - 1.0) * f(p.max_angle);
        let zoom = 1.0 + zoom_lo + d(6) * (zoom_hi - zoom_lo);
        let shear = (2.0 * d(7) - 1.0) * f(p.max_shear);
        let (hflip, vflip) = (p.flip && d(0) < 0.5, p.vflip && d(5) < 0.5);
        let factor = 1.0 + (2.0 * d(4) - 1.0) * f(p.contrast);
        let delta = (2.0 * d(10) - 1.0) * f(p.brightness) * (hi - lo);
        for ch in 0..c {
            let plane = &x[(img * c + ch) * hw..(img * c + ch + 1) * hw];
            let mean = plane.iter().sum::<f64>() / hw as f64;
            let tap = |y: f64, xx: f64| {
                let fy = fill_index(y as i64, h as i64, p.fill);
                let fx = fill_index(xx as i64, w as i64, p.fill);
                match (fy, fx) {
                    (Some(y), Some(xx)) => plane[y as usize * w + xx as usize],
                    _ => fill_value,
                }
            };
            for oy in 0..h {
                for ox in 0..w {
                    let my = if vflip { h - 1 - oy } else { oy } as f64;
                    let mx = if hflip { w - 1 - ox } else { ox } as f64;
                    let (zy, zx) = ((my - cy) * zoom, (mx - cx) * zoom);
                    let (dy, dx) = (zy - shear.sin() * zx - sy, shear.cos() * zx - sx);
                    let ys = cy + dy * angle.cos() - dx * angle.sin();
                    let xs = cx + dy * angle.sin() + dx * angle.cos();
                    let (y0, x0) = (ys.floor(), xs.floor());
                    let (fy, fx) = (ys - y0, xs - x0);
                    let top = tap(y0, x0) * (1.0 - fx) + tap(y0, x0 + 1.0) * fx;
                    let bottom = tap(y0 + 1.0, x0) * (1.0 - fx) + tap(y0 + 1.0, x0 + 1.0) * fx;
                    let mut v = top * (1.0 - fy) + bottom * fy;
                    if p.contrast > 0.0 {
                        v = (v - mean) * factor + mean;
                    }
                    if p.brightness > 0.0 {
                        v = (v + delta).clamp(lo, hi);
                    }
                    out[(img * c + ch) * hw + oy * w + ox] = v;
                }
            }
        }
    }
    out
}

impl AugmentBackend for CpuBackend {
    fn augment(
        &self,
        x: &HostTensor,
        p: &AugmentParams,
        seed: u32,
        step: u32,
    ) -> Result<HostTensor> {
        p.validate()?;
        let d = dims4(&x.shape)?;
        t(x.shape.clone(), forward(&x.v(), d, p, seed, step))
    }
}
