//! Plain reference convolution in f64: nested loops, no fast paths. Each result also carries
//! Σ|terms| per element, from which the GPU comparison derives its tolerance.

use super::Conv2dGeometry;
use super::Conv2dParams;
use crate::error::Result;
use crate::ops::backend::{ConvBackend, CpuBackend};
use crate::ops::host::{dims4, nc_hw, t, HostTensor};
pub use crate::ops::Reference;
use crate::shape::Shape;

/// Input row/column read by output position `o` and kernel tap `k` along one axis, or
/// `None` in the padding.
fn tap(o: usize, k: usize, stride: usize, dil: usize, pad: usize, size: usize) -> Option<usize> {
    let i = (o * stride + k * dil).checked_sub(pad)?;
    (i < size).then_some(i)
}

/// Calls `f(n, o, oh, ow, ci, r, s, ih, iw)` for every term of the convolution sum, where
/// `ci` is the absolute input channel.
fn for_each_term(g: &Conv2dGeometry, mut f: impl FnMut([usize; 9])) {
    let (cg, cog) = (g.cg(), g.cog());
    for n in 0..g.n {
        for o in 0..g.c_out {
            let grp = o / cog;
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    for c in 0..cg {
                        for r in 0..g.kh {
                            let Some(ih) = tap(oh, r, g.stride.h, g.dilation.h, g.pad_top, g.h_in)
                            else {
                                continue;
                            };
                            for s in 0..g.kw {
                                let Some(iw) =
                                    tap(ow, s, g.stride.w, g.dilation.w, g.pad_left, g.w_in)
                                else {
                                    continue;
                                };
                                f([n, o, oh, ow, grp * cg + c, r, s, ih, iw]);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn x_index(g: &Conv2dGeometry, n: usize, c: usize, h: usize, w: usize) -> usize {
    ((n * g.c_in + c) * g.h_in + h) * g.w_in + w
}
fn y_index(g: &Conv2dGeometry, n: usize, o: usize, h: usize, w: usize) -> usize {
    ((n * g.c_out + o) * g.h_out + h) * g.w_out + w
}
fn w_index(g: &Conv2dGeometry, o: usize, c_abs: usize, r: usize, s: usize) -> usize {
    ((o * g.cg() + c_abs % g.cg()) * g.kh + r) * g.kw + s
}

/// `y[n,o,oh,ow] = b[o] + Σ w[o,c,r,s] · x[n, grp·cg + c, oh·sh − pt + r·dh, ow·sw − pl + s·dw]`.
pub fn forward(g: &Conv2dGeometry, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Reference {
    let mut y = Reference::zeros(g.y_shape().numel());
    if let Some(b) = b {
        for n in 0..g.n {
            for (o, &bias) in b.iter().enumerate().take(g.c_out) {
                for oh in 0..g.h_out {
                    for ow in 0..g.w_out {
                        y.add(y_index(g, n, o, oh, ow), bias);
                    }
                }
            }
        }
    }
    for_each_term(g, |[n, o, oh, ow, c, r, s, ih, iw]| {
        let term = w[w_index(g, o, c, r, s)] * x[x_index(g, n, c, ih, iw)];
        y.add(y_index(g, n, o, oh, ow), term);
    });
    y
}

/// `dx = ∂(Σ y·dy)/∂x`: every term of the forward sum sends `w · dy` back to its input.
pub fn backward_data(g: &Conv2dGeometry, dy: &[f64], w: &[f64]) -> Reference {
    let mut dx = Reference::zeros(g.x_shape().numel());
    for_each_term(g, |[n, o, oh, ow, c, r, s, ih, iw]| {
        let term = w[w_index(g, o, c, r, s)] * dy[y_index(g, n, o, oh, ow)];
        dx.add(x_index(g, n, c, ih, iw), term);
    });
    dx
}

/// `dw = ∂(Σ y·dy)/∂w`: every term of the forward sum sends `x · dy` to its weight.
pub fn backward_filter(g: &Conv2dGeometry, x: &[f64], dy: &[f64]) -> Reference {
    let mut dw = Reference::zeros(g.w_shape().numel());
    for_each_term(g, |[n, o, oh, ow, c, r, s, ih, iw]| {
        let term = x[x_index(g, n, c, ih, iw)] * dy[y_index(g, n, o, oh, ow)];
        dw.add(w_index(g, o, c, r, s), term);
    });
    dw
}

/// `db[o] = Σ_{n,oh,ow} dy[n,o,oh,ow]`.
pub fn backward_bias(g: &Conv2dGeometry, dy: &[f64]) -> Reference {
    let mut db = Reference::zeros(g.c_out);
    for n in 0..g.n {
        for o in 0..g.c_out {
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    db.add(o, dy[y_index(g, n, o, oh, ow)]);
                }
            }
        }
    }
    db
}

/// Transposed convolution by its definition (GOLDEN_FORMAT.md): every `x[n, c, i, j]` adds
/// `x · w[c, o', r, s]` to `y[n, grp·cog + o', i·sh − ph + r·dh, j·sw − pw + s·dw]`, with w IOHW
/// `[c_in, cog, kh, kw]`; then the bias. `y_hw` is the output size.
pub fn transpose_forward(
    x: &[f64],
    [n, c_in, h, w_in]: [usize; 4],
    w: &[f64],
    [cog, kh, kw]: [usize; 3],
    b: Option<&[f64]>,
    p: &super::transpose::ConvTranspose2dParams,
    [ho, wo]: [usize; 2],
) -> Reference {
    let groups = p.groups;
    let c_out = cog * groups;
    let cg = c_in / groups;
    let mut y = Reference::zeros(n * c_out * ho * wo);
    for b_i in 0..n {
        for c in 0..c_in {
            let grp = c / cg;
            for i in 0..h {
                for j in 0..w_in {
                    let xv = x[((b_i * c_in + c) * h + i) * w_in + j];
                    for o in 0..cog {
                        for r in 0..kh {
                            let Some(oh) = (i * p.stride.h + r * p.dilation.h)
                                .checked_sub(p.padding.h)
                                .filter(|&v| v < ho)
                            else {
                                continue;
                            };
                            for s in 0..kw {
                                let Some(ow) = (j * p.stride.w + s * p.dilation.w)
                                    .checked_sub(p.padding.w)
                                    .filter(|&v| v < wo)
                                else {
                                    continue;
                                };
                                let wv = w[((c * cog + o) * kh + r) * kw + s];
                                y.add(((b_i * c_out + grp * cog + o) * ho + oh) * wo + ow, xv * wv);
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(b) = b {
        for i in 0..y.values.len() {
            y.add(i, b[(i / (ho * wo)) % c_out]);
        }
    }
    y
}

/// The bias gradient of any NCHW output gradient `[n, c, h·w]`: per channel, the sum over
/// images and pixels (the layers' form of `backward_bias`, without a conv geometry).
pub fn bias_sums(dy: &[f64], [n, c, hw]: [usize; 3]) -> Vec<f64> {
    (0..c)
        .map(|ch| {
            (0..n)
                .flat_map(|b| dy[(b * c + ch) * hw..][..hw].iter())
                .sum()
        })
        .collect()
}

impl ConvBackend for CpuBackend {
    fn conv2d(
        &self,
        x: &HostTensor,
        w: &HostTensor,
        b: Option<&HostTensor>,
        p: &Conv2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(&x.shape, &w.shape)?;
        let bias = b.map(|b| b.to_vec());
        t(
            g.y_shape(),
            forward(&g, &x.v(), &w.v(), bias.as_deref()).values,
        )
    }
    fn conv2d_backward_data(
        &self,
        dy: &HostTensor,
        w: &HostTensor,
        x: &Shape,
        p: &Conv2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(x, &w.shape)?;
        t(x.clone(), backward_data(&g, &dy.v(), &w.v()).values)
    }
    fn conv2d_backward_filter(
        &self,
        x: &HostTensor,
        dy: &HostTensor,
        p: &Conv2dParams,
    ) -> Result<HostTensor> {
        let c_out = dims4(&dy.shape)?[1];
        let c_in = x.shape.dims().get(1).copied().unwrap_or(0);
        let g = p.resolve(&x.shape, &p.weight_shape(c_in, c_out))?;
        t(g.w_shape(), backward_filter(&g, &x.v(), &dy.v()).values)
    }
    fn conv2d_backward_bias(&self, dy: &HostTensor) -> Result<HostTensor> {
        let dims = nc_hw(&dy.shape);
        t(Shape::new([dims[1]]), bias_sums(&dy.v(), dims))
    }
}
