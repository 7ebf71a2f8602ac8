//! Plain reference batch normalisation in f64. `x` is `[n, c, hw]` flattened.

use super::BatchNormParams;
use crate::error::{Error, Result};
use crate::ops::backend::{CpuBackend, NormBackend};
use crate::ops::host::{dims4, nc_hw, same_shape, t, HostTensor};
use crate::shape::Shape;

/// Indices of channel `c`'s values in index order.
fn channel([n, c_all, hw]: [usize; 3], c: usize) -> impl Iterator<Item = usize> {
    (0..n).flat_map(move |b| (0..hw).map(move |p| (b * c_all + c) * hw + p))
}

/// (mean, biased variance) per channel.
pub fn stats(x: &[f64], dims: [usize; 3]) -> Vec<(f64, f64)> {
    let m = (dims[0] * dims[2]) as f64;
    (0..dims[1])
        .map(|c| {
            let mean = channel(dims, c).map(|i| x[i]).sum::<f64>() / m;
            let var = channel(dims, c).map(|i| (x[i] - mean).powi(2)).sum::<f64>() / m;
            (mean, var)
        })
        .collect()
}

/// y = gamma·(x − mean)/√(var + eps) + beta with the given per-channel statistics.
pub fn normalize(
    x: &[f64],
    dims: [usize; 3],
    stats: &[(f64, f64)],
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for (c, &(mean, var)) in stats.iter().enumerate() {
        for i in channel(dims, c) {
            y[i] = gamma[c] * (x[i] - mean) / (var + eps).sqrt() + beta[c];
        }
    }
    y
}

/// (dx, dgamma, dbeta); `training`: the statistics are the batch's (they depend on x).
pub fn backward(
    dy: &[f64],
    x: &[f64],
    dims: [usize; 3],
    stats: &[(f64, f64)],
    gamma: &[f64],
    eps: f64,
    training: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = (dims[0] * dims[2]) as f64;
    let mut dx = vec![0.0; x.len()];
    let (mut dgamma, mut dbeta) = (vec![0.0; dims[1]], vec![0.0; dims[1]]);
    for (c, &(mean, var)) in stats.iter().enumerate() {
        let inv = 1.0 / (var + eps).sqrt();
        for i in channel(dims, c) {
            dbeta[c] += dy[i];
            dgamma[c] += dy[i] * (x[i] - mean) * inv;
        }
        for i in channel(dims, c) {
            let xhat = (x[i] - mean) * inv;
            dx[i] = if training {
                gamma[c] * inv / m * (m * dy[i] - dbeta[c] - xhat * dgamma[c])
            } else {
                dy[i] * gamma[c] * inv
            };
        }
    }
    (dx, dgamma, dbeta)
}

/// Running statistics after a training step (PyTorch): `(1 − momentum)·running + momentum·batch`
/// for the means; the variances take the batch variance unbiased over `m` values per channel.
pub fn running_update(
    [rm, rv]: [&[f64]; 2],
    stats: &[(f64, f64)],
    m: f64,
    momentum: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mean = rm
        .iter()
        .zip(stats)
        .map(|(r, s)| (1.0 - momentum) * r + momentum * s.0)
        .collect();
    let var = rv
        .iter()
        .zip(stats)
        .map(|(r, s)| (1.0 - momentum) * r + momentum * s.1 * m / (m - 1.0))
        .collect();
    (mean, var)
}

/// A conv's weights `[c_out, …]` and bias with an eval-mode batch norm folded in:
/// `w·γ/√(σ² + ε)` per output channel, `β + (b − μ)·γ/√(σ² + ε)`.
pub fn fold_conv(
    w: &[f64],
    bias: Option<&[f64]>,
    [gamma, beta, mean, var]: [&[f64]; 4],
    eps: f64,
) -> (Vec<f64>, Vec<f64>) {
    let c = gamma.len();
    let per = w.len() / c.max(1);
    let s: Vec<f64> = (0..c).map(|k| gamma[k] / (var[k] + eps).sqrt()).collect();
    let wf = w.iter().enumerate().map(|(i, &v)| v * s[i / per]).collect();
    let bf = (0..c)
        .map(|k| beta[k] + (bias.map_or(0.0, |b| b[k]) - mean[k]) * s[k])
        .collect();
    (wf, bf)
}

/// Checks that every per-channel tensor has `c` values.
fn per_channel(c: usize, ts: &[&HostTensor]) -> Result<()> {
    match ts.iter().find(|t| t.shape.numel() != c) {
        Some(t) => Err(Error::ShapeMismatch {
            op: "batch_norm",
            what: "per-channel tensor",
            expected: format!("{c} values"),
            got: t.shape.to_string(),
        }),
        None => Ok(()),
    }
}

impl NormBackend for CpuBackend {
    fn batch_norm_train(
        &self,
        x: &HostTensor,
        [g, b]: [&HostTensor; 2],
        [rm, rv]: [&HostTensor; 2],
        p: &BatchNormParams,
    ) -> Result<[HostTensor; 3]> {
        let dims = nc_hw(&x.shape);
        per_channel(dims[1], &[g, b, rm, rv])?;
        let st = stats(&x.v(), dims);
        let y = normalize(&x.v(), dims, &st, &g.v(), &b.v(), f64::from(p.eps));
        let m = (dims[0] * dims[2]) as f64;
        let (new_rm, new_rv) = running_update([&rm.v(), &rv.v()], &st, m, f64::from(p.momentum));
        rm.set(new_rm);
        rv.set(new_rv);
        let (mean, var): (Vec<f64>, Vec<f64>) = st.into_iter().unzip();
        let c = Shape::new([dims[1]]);
        Ok([t(x.shape.clone(), y)?, t(c.clone(), mean)?, t(c, var)?])
    }
    fn batch_norm_eval(
        &self,
        x: &HostTensor,
        [g, b]: [&HostTensor; 2],
        [rm, rv]: [&HostTensor; 2],
        eps: f32,
    ) -> Result<HostTensor> {
        let dims = nc_hw(&x.shape);
        per_channel(dims[1], &[g, b, rm, rv])?;
        let st: Vec<(f64, f64)> = rm.v().iter().copied().zip(rv.v().iter().copied()).collect();
        t(
            x.shape.clone(),
            normalize(&x.v(), dims, &st, &g.v(), &b.v(), f64::from(eps)),
        )
    }
    fn batch_norm_backward(
        &self,
        dy: &HostTensor,
        x: &HostTensor,
        gamma: &HostTensor,
        [mean, var]: [&HostTensor; 2],
        eps: f32,
        training: bool,
    ) -> Result<[HostTensor; 3]> {
        let dims = nc_hw(&x.shape);
        per_channel(dims[1], &[gamma, mean, var])?;
        same_shape(dy, x)?;
        let st: Vec<(f64, f64)> = mean
            .v()
            .iter()
            .copied()
            .zip(var.v().iter().copied())
            .collect();
        let (dx, dg, db) = backward(
            &dy.v(),
            &x.v(),
            dims,
            &st,
            &gamma.v(),
            f64::from(eps),
            training,
        );
        let c = Shape::new([dims[1]]);
        Ok([t(x.shape.clone(), dx)?, t(c.clone(), dg)?, t(c, db)?])
    }
    fn fold_batch_norm(
        &self,
        w: &HostTensor,
        b: Option<&HostTensor>,
        [g, be]: [&HostTensor; 2],
        [rm, rv]: [&HostTensor; 2],
        eps: f32,
    ) -> Result<(HostTensor, HostTensor)> {
        let c = dims4(&w.shape)?[0];
        let all = [g, be, rm, rv].into_iter().chain(b);
        if all.into_iter().any(|s| s.shape.numel() != c) {
            return Err(Error::invalid(
                "fold_batch_norm",
                "statistics",
                "length",
                format!("{c} values each"),
            ));
        }
        let bias = b.map(|b| b.to_vec());
        let (wf, bf) = fold_conv(
            &w.v(),
            bias.as_deref(),
            [&g.v(), &be.v(), &rm.v(), &rv.v()],
            f64::from(eps),
        );
        Ok((t(w.shape.clone(), wf)?, t(Shape::new([c]), bf)?))
    }
}
