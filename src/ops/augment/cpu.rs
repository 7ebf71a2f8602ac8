//! Plain reference augmentation in f64, the same draws and mapping as the shader.

use super::AugmentParams;
use crate::error::Result;
use crate::ops::backend::{AugmentBackend, CpuBackend};
use crate::ops::elementwise::cpu::pcg;
use crate::ops::host::{dims4, t, HostTensor};

/// Draw `k` of image `img`: uniform in [0, 1) with 24 bits (exact in f32).
pub fn draw(seed: u32, step: u32, img: u32, k: u32) -> f64 {
    let h = pcg(pcg(pcg(seed ^ pcg(step)) ^ img) ^ k);
    f64::from(h >> 8) / 16_777_216.0
}

/// `x` `[n, c, h, w]` augmented as the shader does.
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
    for img in 0..n {
        let d = |k| draw(seed, step, img as u32, k);
        let span = 2.0 * s + 1.0;
        let (sy, sx) = ((d(1) * span).floor() - s, (d(2) * span).floor() - s);
        let angle = (2.0 * d(3) - 1.0) * f64::from(p.max_angle);
        let flip = p.flip && d(0) < 0.5;
        let factor = 1.0 + (2.0 * d(4) - 1.0) * f64::from(p.contrast);
        for ch in 0..c {
            let plane = &x[(img * c + ch) * hw..(img * c + ch + 1) * hw];
            let mean = plane.iter().sum::<f64>() / hw as f64;
            let tap = |y: f64, xx: f64| {
                if y < 0.0 || xx < 0.0 || y >= h as f64 || xx >= w as f64 {
                    0.0
                } else {
                    plane[y as usize * w + xx as usize]
                }
            };
            for oy in 0..h {
                for ox in 0..w {
                    let (dy, dx) = (oy as f64 - sy - cy, ox as f64 - sx - cx);
                    let ys = cy + dy * angle.cos() - dx * angle.sin();
                    let mut xs = cx + dy * angle.sin() + dx * angle.cos();
                    if flip {
                        xs = w as f64 - 1.0 - xs;
                    }
                    let (y0, x0) = (ys.floor(), xs.floor());
                    let (fy, fx) = (ys - y0, xs - x0);
                    let top = tap(y0, x0) * (1.0 - fx) + tap(y0, x0 + 1.0) * fx;
                    let bottom = tap(y0 + 1.0, x0) * (1.0 - fx) + tap(y0 + 1.0, x0 + 1.0) * fx;
                    let mut v = top * (1.0 - fy) + bottom * fy;
                    if p.contrast > 0.0 {
                        v = (v - mean) * factor + mean;
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
