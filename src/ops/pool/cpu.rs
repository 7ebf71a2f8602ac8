//! Plain reference pooling in f64.

use super::Pool2dParams;
use super::{AdaptiveGeometry, Pool2dGeometry};
use crate::error::{Error, Result};
use crate::ops::backend::{CpuBackend, PoolBackend};
use crate::ops::host::{dims4, t, HostTensor};
use crate::ops::Reference;
use crate::shape::{Shape, HW};

fn plane(n: usize, c: usize, channels: usize, h: usize, w: usize) -> usize {
    (n * channels + c) * h * w
}

/// Max pooling: values and flat `h·W + w` indices; the first maximum in row-major window order
/// wins (a later tap replaces it only when strictly greater), and a NaN wins over every number,
/// a later NaN over an earlier one (PyTorch's `val > max || isnan(val)`).
pub fn max_forward(g: &Pool2dGeometry, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut y = Vec::with_capacity(g.y_shape().numel());
    let mut idx = Vec::with_capacity(y.capacity());
    for n in 0..g.n {
        for c in 0..g.c {
            let base = plane(n, c, g.c, g.h_in, g.w_in);
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    let mut best = (f64::NEG_INFINITY, usize::MAX);
                    for (_, ih) in g.taps(oh, true) {
                        for (_, iw) in g.taps(ow, false) {
                            let v = x[base + ih * g.w_in + iw];
                            if v > best.0 || v.is_nan() || best.1 == usize::MAX {
                                best = (v, ih * g.w_in + iw);
                            }
                        }
                    }
                    y.push(best.0);
                    idx.push(best.1 as f64);
                }
            }
        }
    }
    (y, idx)
}

/// `dx[idx] += dy` over every window.
pub fn max_backward(g: &Pool2dGeometry, dy: &[f64], idx: &[f64]) -> Reference {
    let mut dx = Reference::zeros(g.x_shape().numel());
    let hw_out = g.h_out * g.w_out;
    for (o, (&d, &i)) in dy.iter().zip(idx).enumerate() {
        let nc = o / hw_out;
        dx.add(nc * g.h_in * g.w_in + i as usize, d);
    }
    dx
}

/// Average pooling over the real elements of each window, divided by `g.divisor`.
pub fn avg_forward(g: &Pool2dGeometry, x: &[f64]) -> Reference {
    let mut y = Reference::zeros(g.y_shape().numel());
    let mut o = 0;
    for n in 0..g.n {
        for c in 0..g.c {
            let base = plane(n, c, g.c, g.h_in, g.w_in);
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    let div = g.divisor(oh, ow) as f64;
                    for (_, ih) in g.taps(oh, true) {
                        for (_, iw) in g.taps(ow, false) {
                            y.add(o, x[base + ih * g.w_in + iw] / div);
                        }
                    }
                    o += 1;
                }
            }
        }
    }
    y
}

/// Each window's `dy / divisor` to each of its real elements.
pub fn avg_backward(g: &Pool2dGeometry, dy: &[f64]) -> Reference {
    let mut dx = Reference::zeros(g.x_shape().numel());
    let mut o = 0;
    for n in 0..g.n {
        for c in 0..g.c {
            let base = plane(n, c, g.c, g.h_in, g.w_in);
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    let v = dy[o] / g.divisor(oh, ow) as f64;
                    for (_, ih) in g.taps(oh, true) {
                        for (_, iw) in g.taps(ow, false) {
                            dx.add(base + ih * g.w_in + iw, v);
                        }
                    }
                    o += 1;
                }
            }
        }
    }
    dx
}

/// Adaptive average pooling (PyTorch's window rule).
pub fn adaptive_forward(g: &AdaptiveGeometry, x: &[f64]) -> Reference {
    let mut y = Reference::zeros(g.y_shape().numel());
    let mut o = 0;
    for n in 0..g.n {
        for c in 0..g.c {
            let base = plane(n, c, g.c, g.h_in, g.w_in);
            for oh in 0..g.h_out {
                let (h0, h1) = AdaptiveGeometry::window(oh, g.h_in, g.h_out);
                for ow in 0..g.w_out {
                    let (w0, w1) = AdaptiveGeometry::window(ow, g.w_in, g.w_out);
                    let div = ((h1 - h0) * (w1 - w0)) as f64;
                    for ih in h0..h1 {
                        for iw in w0..w1 {
                            y.add(o, x[base + ih * g.w_in + iw] / div);
                        }
                    }
                    o += 1;
                }
            }
        }
    }
    y
}

/// Each adaptive window's `dy` divided by its size, to each of its elements (windows may
/// overlap, so an input element can sum several).
pub fn adaptive_backward(g: &AdaptiveGeometry, dy: &[f64]) -> Reference {
    let mut dx = Reference::zeros(g.x_shape().numel());
    let mut o = 0;
    for n in 0..g.n {
        for c in 0..g.c {
            let base = plane(n, c, g.c, g.h_in, g.w_in);
            for oh in 0..g.h_out {
                let (h0, h1) = AdaptiveGeometry::window(oh, g.h_in, g.h_out);
                for ow in 0..g.w_out {
                    let (w0, w1) = AdaptiveGeometry::window(ow, g.w_in, g.w_out);
                    let v = dy[o] / ((h1 - h0) * (w1 - w0)) as f64;
                    for ih in h0..h1 {
                        for iw in w0..w1 {
                            dx.add(base + ih * g.w_in + iw, v);
                        }
                    }
                    o += 1;
                }
            }
        }
    }
    dx
}

/// Channel max over groups of `k` channels of `x` `[n, c, h, w]`: values and flat channel
/// indices (the first maximum wins).
pub fn channel_max_forward(x: &[f64], [n, c, h, w]: [usize; 4], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = Vec::new();
    let mut idx = Vec::new();
    for b in 0..n {
        for grp in 0..c / k {
            for p in 0..h * w {
                let mut best = (f64::NEG_INFINITY, usize::MAX);
                for ch in grp * k..(grp + 1) * k {
                    let v = x[(b * c + ch) * h * w + p];
                    if v > best.0 || v.is_nan() || best.1 == usize::MAX {
                        best = (v, ch);
                    }
                }
                y.push(best.0);
                idx.push(best.1 as f64);
            }
        }
    }
    (y, idx)
}

/// Gradient of [`channel_max_forward`]: each `dy` to the input channel its index `idx` names,
/// at the same image and pixel; `dx` is `[n, c, h, w]`.
pub fn channel_max_backward(
    dy: &[f64],
    idx: &[f64],
    [n, c, h, w]: [usize; 4],
    k: usize,
) -> Vec<f64> {
    let mut dx = vec![0.0; n * c * h * w];
    let hw = h * w;
    for (o, (&d, &i)) in dy.iter().zip(idx).enumerate() {
        let b = o / (c / k * hw);
        dx[(b * c + i as usize) * hw + o % hw] += d;
    }
    dx
}

impl PoolBackend for CpuBackend {
    fn max_pool(
        &self,
        x: &HostTensor,
        p: &Pool2dParams,
        with_idx: bool,
    ) -> Result<(HostTensor, Option<HostTensor>)> {
        let g = p.resolve(&x.shape)?;
        let (y, idx) = max_forward(&g, &x.v());
        Ok((
            t(g.y_shape(), y)?,
            with_idx.then(|| t(g.y_shape(), idx)).transpose()?,
        ))
    }
    fn max_pool_backward(
        &self,
        dy: &HostTensor,
        idx: &HostTensor,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(x)?;
        t(x.clone(), max_backward(&g, &dy.v(), &idx.v()).values)
    }
    fn avg_pool(&self, x: &HostTensor, p: &Pool2dParams) -> Result<HostTensor> {
        let g = p.resolve(&x.shape)?;
        t(g.y_shape(), avg_forward(&g, &x.v()).values)
    }
    fn avg_pool_backward(
        &self,
        dy: &HostTensor,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(x)?;
        t(x.clone(), avg_backward(&g, &dy.v()).values)
    }
    fn global_avg_pool(&self, x: &HostTensor) -> Result<HostTensor> {
        let g = AdaptiveGeometry::resolve(&x.shape, HW::new(1, 1))?;
        t(g.y_shape(), adaptive_forward(&g, &x.v()).values)
    }
    fn global_avg_pool_backward(&self, dy: &HostTensor, x: &Shape) -> Result<HostTensor> {
        let g = AdaptiveGeometry::resolve(x, HW::new(1, 1))?;
        t(x.clone(), adaptive_backward(&g, &dy.v()).values)
    }
    fn channel_max_pool(&self, x: &HostTensor, k: usize) -> Result<(HostTensor, HostTensor)> {
        let [n, c, h, w] = dims4(&x.shape)?;
        if k == 0 || c % k != 0 {
            return Err(Error::invalid(
                "channel_max_pool",
                "k",
                k,
                "must divide the channels",
            ));
        }
        let (y, idx) = channel_max_forward(&x.v(), [n, c, h, w], k);
        let s = Shape::new([n, c / k, h, w]);
        Ok((t(s.clone(), y)?, t(s, idx)?))
    }
    fn channel_max_pool_backward(
        &self,
        dy: &HostTensor,
        idx: &HostTensor,
        x: &Shape,
        k: usize,
    ) -> Result<HostTensor> {
        let d = dims4(x)?;
        t(x.clone(), channel_max_backward(&dy.v(), &idx.v(), d, k))
    }
}
