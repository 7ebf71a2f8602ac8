//! Plain reference convolution in f64: nested loops, no fast paths. Each result also carries
//! Σ|terms| per element, from which the GPU comparison derives its tolerance.

use super::Conv2dGeometry;
pub use crate::ops::Reference;

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
