//! Plain reference LRN in f64 over `[n, c, hw]`.

use super::LrnParams;
use crate::error::Result;
use crate::ops::backend::{CpuBackend, LrnBackend};
use crate::ops::host::{nc_hw, same_shape, t, HostTensor};

fn denom(x: &[f64], [_, c, hw]: [usize; 3], i: usize, p: &LrnParams) -> f64 {
    let ch = (i / hw) % c;
    let base = i - ch * hw;
    let half = (p.size / 2).min(c);
    let s: f64 = (ch.saturating_sub(half)..(ch + half + 1).min(c))
        .map(|j| x[base + j * hw].powi(2))
        .sum();
    f64::from(p.k) + f64::from(p.alpha) * s
}

/// `y_i = x_i · D_i^(−beta)` over `x` `[n, c, hw]`, with `D_i = k + alpha · Σ x_j²` over the
/// channel window of `i`.
pub fn forward(x: &[f64], dims: [usize; 3], p: &LrnParams) -> Vec<f64> {
    (0..x.len())
        .map(|i| x[i] * denom(x, dims, i, p).powf(-f64::from(p.beta)))
        .collect()
}

/// `dx_m = dy_m · D_m^(−beta) − 2·alpha·beta · x_m · Σ_{i in window(m)} dy_i · x_i ·
/// D_i^(−beta − 1)` over `[n, c, hw]`.
pub fn backward(dy: &[f64], x: &[f64], dims: [usize; 3], p: &LrnParams) -> Vec<f64> {
    let [_, c, hw] = dims;
    let (alpha, beta) = (f64::from(p.alpha), f64::from(p.beta));
    let t: Vec<f64> = (0..x.len())
        .map(|i| dy[i] * x[i] * denom(x, dims, i, p).powf(-beta - 1.0))
        .collect();
    let half = (p.size / 2).min(c);
    (0..x.len())
        .map(|m| {
            let ch = (m / hw) % c;
            let base = m - ch * hw;
            let s: f64 = (ch.saturating_sub(half)..(ch + half + 1).min(c))
                .map(|j| t[base + j * hw])
                .sum();
            dy[m] * denom(x, dims, m, p).powf(-beta) - 2.0 * alpha * beta * x[m] * s
        })
        .collect()
}

impl LrnBackend for CpuBackend {
    fn lrn(&self, x: &HostTensor, p: &LrnParams) -> Result<HostTensor> {
        t(x.shape.clone(), forward(&x.v(), nc_hw(&x.shape), p))
    }
    fn lrn_backward(&self, dy: &HostTensor, x: &HostTensor, p: &LrnParams) -> Result<HostTensor> {
        same_shape(dy, x)?;
        t(
            x.shape.clone(),
            backward(&dy.v(), &x.v(), nc_hw(&x.shape), p),
        )
    }
}
