//! The f64 reference of the Winograd kernels: the same algorithm and matrices as
//! `conv2d_winograd.wgsl`, plain (equal to direct convolution up to f64 rounding, which proves
//! the matrices) or on absolute values (the magnitude the f32 kernels' rounding errors scale
//! with, from which the tests derive their bounds).

use super::WinogradConv;

/// Bᵀ, G and Aᵀ of F(m×m, 3×3), row-major (T×T, T×3, m×T): the shader's constants in f64.
fn matrices(m: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    if m == 2 {
        (
            vec![
                1., 0., -1., 0., 0., 1., 1., 0., 0., -1., 1., 0., 0., 1., 0., -1.,
            ],
            vec![1., 0., 0., 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0., 0., 1.],
            vec![1., 1., 1., 0., 0., 1., -1., -1.],
        )
    } else {
        let s = 1.0 / 6.0;
        (
            vec![
                4., 0., -5., 0., 1., 0., 0., -4., -4., 1., 1., 0., 0., 4., -4., -1., 1., 0., 0.,
                -2., -1., 2., 1., 0., 0., 2., -1., -2., 1., 0., 0., 4., 0., -5., 0., 1.,
            ],
            vec![
                0.25,
                0.,
                0.,
                -s,
                -s,
                -s,
                -s,
                s,
                -s,
                1. / 24.,
                1. / 12.,
                s,
                1. / 24.,
                -1. / 12.,
                s,
                0.,
                0.,
                1.,
            ],
            vec![
                1., 1., 1., 1., 1., 0., 0., 1., -1., 2., -2., 0., 0., 1., 1., 4., 4., 0., 0., 1.,
                -1., 8., -8., 1.,
            ],
        )
    }
}

/// `l` (r×k) · `x` (k×c) · `rt`ᵀ (rt is c'×c): the two-sided transform of one tile.
fn sandwich(l: &[f64], x: &[f64], rt: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    let c2 = rt.len() / c;
    let mut lx = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            lx[i * c + j] = (0..k).map(|q| l[i * k + q] * x[q * c + j]).sum();
        }
    }
    let mut out = vec![0.0; r * c2];
    for i in 0..r {
        for j in 0..c2 {
            out[i * c2 + j] = (0..c).map(|q| lx[i * c + q] * rt[j * c + q]).sum();
        }
    }
    out
}

/// The T×T patch of input channel `i` under tile (img, ty, tx), zero in the padding.
fn patch(c: &WinogradConv, src: &[f64], img: usize, i: usize, ty: usize, tx: usize) -> Vec<f64> {
    let t = c.t();
    (0..t * t)
        .map(|k| {
            let ih = (ty * c.m + k / t) as i64 - c.pad_top;
            let iw = (tx * c.m + k % t) as i64 - c.pad_left;
            let inside = (0..c.h_in as i64).contains(&ih) && (0..c.w_in as i64).contains(&iw);
            let at =
                ((img * c.c_in + i) * c.h_in + ih.max(0) as usize) * c.w_in + iw.max(0) as usize;
            if inside {
                src[at]
            } else {
                0.0
            }
        })
        .collect()
}

/// Bᵀ·d·B of every input channel's patch under tile `[img, ty, tx]`, the data mapped by `f`.
fn transformed_patches(
    c: &WinogradConv,
    src: &[f64],
    bt: &[f64],
    f: impl Fn(f64) -> f64,
    [img, ty, tx]: [usize; 3],
) -> Vec<Vec<f64>> {
    let t = c.t();
    (0..c.c_in)
        .map(|i| {
            let d: Vec<f64> = patch(c, src, img, i, ty, tx).into_iter().map(&f).collect();
            sandwich(bt, &d, bt, t, t, t)
        })
        .collect()
}

/// The filter gradient `c` (see [`WinogradConv::backward_filter`]) in f64, as [`reference()`]
/// computes the forward: plain (equal to direct dW up to f64 rounding), or with `abs` on
/// absolute values, the magnitude its rounding errors scale with. `[c_out, c_in, 3, 3]`.
pub fn reference_filter(c: &WinogradConv, x: &[f64], dy: &[f64], abs: bool) -> Vec<f64> {
    let (mut bt, mut g, mut at) = matrices(c.m);
    let f = |v: f64| if abs { v.abs() } else { v };
    for v in bt.iter_mut().chain(&mut g).chain(&mut at) {
        *v = f(*v);
    }
    let (t, m) = (c.t(), c.m);
    let (th, tw) = c.tiles();
    // A = (Aᵀ)ᵀ, Gᵀ: the transposes the sandwich needs as its left factors.
    let a: Vec<f64> = (0..t * m).map(|k| at[(k % m) * t + k / m]).collect();
    let gt: Vec<f64> = (0..3 * t).map(|k| g[(k % t) * 3 + k / t]).collect();
    let mut sums = vec![vec![0.0; t * t]; c.c_out * c.c_in];
    for img in 0..c.n {
        for ty in 0..th {
            for tx in 0..tw {
                let patches = transformed_patches(c, x, &bt, f, [img, ty, tx]);
                for o in 0..c.c_out {
                    let block: Vec<f64> = (0..m * m)
                        .map(|k| {
                            let (oh, ow) = (ty * m + k / m, tx * m + k % m);
                            let inside = oh < c.h_out && ow < c.w_out;
                            let at = ((img * c.c_out + o) * c.h_out + oh) * c.w_out + ow;
                            if inside {
                                f(dy[at])
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let grad = sandwich(&a, &block, &a, t, m, m);
                    for (i, v) in patches.iter().enumerate() {
                        let sum = &mut sums[o * c.c_in + i];
                        for k in 0..t * t {
                            sum[k] += grad[k] * v[k];
                        }
                    }
                }
            }
        }
    }
    sums.iter()
        .flat_map(|s| sandwich(&gt, s, &gt, 3, t, t))
        .collect()
}

/// The algorithm in f64, on `src` and `w` as `c` reads them. With `abs`, on absolute values
/// of data and matrices alike: the magnitude each output's rounding errors scale with (the
/// Winograd counterpart of direct convolution's Σ|x·w|). Without, the plain result, equal to
/// direct convolution's up to f64 rounding (which proves the matrices).
pub fn reference(c: &WinogradConv, src: &[f64], w: &[f64], abs: bool) -> Vec<f64> {
    let (mut bt, mut g, mut at) = matrices(c.m);
    let f = |v: f64| if abs { v.abs() } else { v };
    for v in bt.iter_mut().chain(&mut g).chain(&mut at) {
        *v = f(*v);
    }
    let (t, m) = (c.t(), c.m);
    let (th, tw) = c.tiles();
    let filters: Vec<Vec<f64>> = (0..c.c_out * c.c_in)
        .map(|id| {
            let (o, i) = (id / c.c_in, id % c.c_in);
            let taps: Vec<f64> = (0..9)
                .map(|k| match c.flip {
                    false => f(w[id * 9 + k]),
                    true => f(w[(i * c.c_out + o) * 9 + 8 - k]),
                })
                .collect();
            sandwich(&g, &taps, &g, t, 3, 3)
        })
        .collect();
    let mut y = vec![0.0; c.n * c.c_out * c.h_out * c.w_out];
    for img in 0..c.n {
        for ty in 0..th {
            for tx in 0..tw {
                let patches = transformed_patches(c, src, &bt, f, [img, ty, tx]);
                for o in 0..c.c_out {
                    let mut acc = vec![0.0; t * t];
                    for (i, v) in patches.iter().enumerate() {
                        let u = &filters[o * c.c_in + i];
                        for a in 0..t * t {
                            acc[a] += u[a] * v[a];
                        }
                    }
                    let block = sandwich(&at, &acc, &at, m, t, t);
                    for (k, v) in block.into_iter().enumerate() {
                        let (oh, ow) = (ty * m + k / m, tx * m + k % m);
                        if oh < c.h_out && ow < c.w_out {
                            y[((img * c.c_out + o) * c.h_out + oh) * c.w_out + ow] = v;
                        }
                    }
                }
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::super::{WinogradConv, BLOCKS};
    use super::*;
    use crate::ops::conv2d::{cpu, Conv2dParams};
    use crate::shape::{Padding, Shape};

    /// The f64 algorithm equals direct convolution (forward, dX and dW): the matrices are
    /// right, and so is reading the forward identity backwards for dW.
    #[test]
    fn the_algorithm_is_convolution() {
        let pads = [
            Padding::Valid,
            Padding::Same,
            Padding::Explicit {
                top: 3,
                bottom: 0,
                left: 1,
                right: 2,
            },
        ];
        for (case, padding) in pads.into_iter().enumerate() {
            let (x, w) = (Shape::new([2, 3, 7, 6]), Shape::new([4, 3, 3, 3]));
            let g = Conv2dParams::new(3)
                .padding(padding)
                .resolve(&x, &w)
                .unwrap();
            let data = |n: usize, salt: usize| -> Vec<f64> {
                (0..n)
                    .map(|i| (((i + salt) * 7919) % 201) as f64 / 100.0 - 1.0)
                    .collect()
            };
            let (xs, ws, dys) = (
                data(x.numel(), case),
                data(w.numel(), 3),
                data(g.y_shape().numel(), 5),
            );
            for m in BLOCKS {
                let y = reference(&WinogradConv::forward(&g, m), &xs, &ws, false);
                let dx = reference(&WinogradConv::backward_data(&g, m), &dys, &ws, false);
                let dw = reference_filter(&WinogradConv::backward_filter(&g, m), &xs, &dys, false);
                let y_ref = cpu::forward(&g, &xs, &ws, None).values;
                let dx_ref = cpu::backward_data(&g, &dys, &ws).values;
                let dw_ref = cpu::backward_filter(&g, &xs, &dys).values;
                for (got, want) in [(y, y_ref), (dx, dx_ref), (dw, dw_ref)] {
                    assert_eq!(got.len(), want.len());
                    for (a, b) in got.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "m={m}: {a} vs {b}");
                    }
                }
            }
        }
    }
}
