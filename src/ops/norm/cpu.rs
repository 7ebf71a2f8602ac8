//! Plain reference batch normalisation in f64. `x` is `[n, c, hw]` flattened.

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
