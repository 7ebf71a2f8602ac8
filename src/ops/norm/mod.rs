//! Batch normalisation of NCHW tensors (per channel over n·h·w), training and evaluation,
//! forward and backward, with PyTorch's conventions: the batch variance used to normalise is
//! biased, the running variance is updated with the unbiased one, and `momentum` is the weight
//! of the new statistic (PyTorch's 0.1 is Keras's 0.9).

pub mod backend;
pub mod cpu;
pub mod gpu;
mod synced;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

const OP: &str = "batch_norm2d";

/// Options of a batch normalisation.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct BatchNormParams {
    /// Added to the variance under the square root, for stability; positive (default 1e-5).
    pub eps: f32,
    /// Weight of the new batch statistic in the running averages (PyTorch's convention).
    pub momentum: f32,
    /// Training statistics over the whole global batch of a data-parallel step, exchanged
    /// between the processes (PyTorch's `SyncBatchNorm`, Keras's `synchronized=True`); in one
    /// process the same as unsynchronised.
    pub synchronized: bool,
}

impl Default for BatchNormParams {
    fn default() -> Self {
        BatchNormParams {
            eps: 1e-5,
            momentum: 0.1,
            synchronized: false,
        }
    }
}

/// What a training-mode forward pass produces.
pub struct BatchNormTrain {
    /// The normalised output `[n, c, h, w]`, shaped like `x`.
    pub y: Tensor,
    /// Batch mean and biased variance, `[c]` each: what the backward pass needs.
    pub batch_mean: Tensor,
    /// Batch variance, biased (divided by `n·h·w`), `[c]`.
    pub batch_var: Tensor,
    /// The running statistics, updated in place (the tensors passed in), `[c]` each.
    pub running_mean: Tensor,
    /// The running variance, updated in place with the unbiased batch variance, `[c]`.
    pub running_var: Tensor,
}

/// Gradients of a batch normalisation.
pub struct BatchNormGrads {
    /// Input gradient, shaped like `x`.
    pub dx: Tensor,
    /// Scale gradient `Σ dy·x̂` per channel, `[c]`.
    pub dgamma: Tensor,
    /// Shift gradient `Σ dy` per channel, `[c]`.
    pub dbeta: Tensor,
}

/// Checks x `[n, c, h, w]` and that every per-channel tensor is `[c]`; returns (n, c, h·w).
fn check(x: &Tensor, per_channel: &[(&'static str, &Tensor)]) -> Result<(usize, usize, usize)> {
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "input x",
            expected: "rank 4 [n, c, h, w]".into(),
            got: x.shape().to_string(),
        });
    };
    if n * c * h * w == 0 {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "input x",
            expected: "no zero dimension".into(),
            got: x.shape().to_string(),
        });
    }
    for &(what, t) in per_channel {
        crate::ops::same_device(OP, &[x, t])?;
        if t.dims() != [c] {
            return Err(Error::ShapeMismatch {
                op: OP,
                what,
                expected: format!("[{c}]"),
                got: t.shape().to_string(),
            });
        }
    }
    if x.numel() as u64 > u64::from(u32::MAX) {
        return Err(Error::TooLarge {
            what: format!("batch norm input {}", x.shape()),
            bytes: x.numel() as u64 * 4,
            limit: u64::from(u32::MAX),
        });
    }
    Ok((n, c, h * w))
}

fn check_params(p: &BatchNormParams) -> Result<()> {
    if !(p.eps > 0.0 && p.eps.is_finite()) {
        return Err(Error::invalid(OP, "eps", p.eps, "must be positive"));
    }
    if !(0.0..=1.0).contains(&p.momentum) {
        return Err(Error::invalid(
            OP,
            "momentum",
            p.momentum,
            "must be in [0, 1]",
        ));
    }
    Ok(())
}

/// Training-mode forward: normalises with the batch statistics and updates the running ones.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    p: &BatchNormParams,
) -> Result<BatchNormTrain> {
    check_params(p)?;
    let dims = check(
        x,
        &[
            ("gamma", gamma),
            ("beta", beta),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ],
    )?;
    // Synchronised, the count that matters is the global batch's (checked where the
    // statistics are combined, and in one process by the model that compiles the plan).
    let least = if p.synchronized { 1 } else { 2 };
    if dims.0 * dims.2 < least {
        return Err(Error::invalid(
            OP,
            "values per channel",
            dims.0 * dims.2,
            "training needs at least 2 (the unbiased variance divides by M − 1)",
        ));
    }
    match p.synchronized {
        true => synced::train_forward(x, gamma, beta, running_mean, running_var, p, dims),
        false => gpu::train_forward(x, gamma, beta, running_mean, running_var, p, dims),
    }
}

/// Evaluation-mode forward: normalises with the running statistics.
pub fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    check_params(&BatchNormParams {
        eps,
        ..BatchNormParams::default()
    })?;
    let dims = check(
        x,
        &[
            ("gamma", gamma),
            ("beta", beta),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ],
    )?;
    gpu::eval_forward(x, gamma, beta, running_mean, running_var, eps, dims)
}

/// A batch norm in evaluation mode folded into the conv before it, for inference:
/// `(w·s, beta + (b − mean)·s)` with `s = gamma/√(running_var + eps)` per output channel, so
/// `conv(x, w', b') = batch_norm_eval(conv(x, w, b))`.
pub fn fold_into_conv(
    w: &Tensor,
    b: Option<&Tensor>,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor)> {
    check_params(&BatchNormParams {
        eps,
        ..BatchNormParams::default()
    })?;
    let c = w.dims().first().copied().unwrap_or(0);
    let ok = |t: &Tensor| t.numel() == c;
    if c == 0
        || w.shape().rank() != 4
        || ![gamma, beta, running_mean, running_var]
            .into_iter()
            .chain(b)
            .all(ok)
    {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "fold: weight, bias and statistics",
            expected: "w [c, …] with bias, gamma, beta, mean and variance of c values each".into(),
            got: format!(
                "w {} and {} channels of statistics",
                w.shape(),
                gamma.numel()
            ),
        });
    }
    crate::ops::same_device(OP, &[w, gamma, beta, running_mean, running_var])?;
    gpu::fold_conv(w, b, gamma, beta, running_mean, running_var, eps)
}

/// Backward of [`batch_norm_train`], from the batch statistics it returned.
pub fn batch_norm_backward_train(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    batch_mean: &Tensor,
    batch_var: &Tensor,
    eps: f32,
) -> Result<BatchNormGrads> {
    backward(dy, x, gamma, batch_mean, batch_var, eps, (true, false))
}

/// Backward of a synchronised [`batch_norm_train`] (`BatchNormParams::synchronized`): the
/// per-channel sums the input gradient needs are exchanged with the other processes of a
/// data-parallel step, so `dx` is the gradient through the global batch's statistics; in one
/// process, [`batch_norm_backward_train`].
pub fn batch_norm_backward_synced(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    batch_mean: &Tensor,
    batch_var: &Tensor,
    eps: f32,
) -> Result<BatchNormGrads> {
    backward(dy, x, gamma, batch_mean, batch_var, eps, (true, true))
}

/// Backward of [`batch_norm_eval`]: the running statistics are constants.
pub fn batch_norm_backward_eval(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<BatchNormGrads> {
    backward(dy, x, gamma, running_mean, running_var, eps, (false, false))
}

fn backward(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
    (training, synced): (bool, bool),
) -> Result<BatchNormGrads> {
    check_params(&BatchNormParams {
        eps,
        momentum: 0.0,
        synchronized: false,
    })?;
    let dims = check(x, &[("gamma", gamma), ("mean", mean), ("variance", var)])?;
    crate::ops::same_device(OP, &[x, dy])?;
    if dy.shape() != x.shape() {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "dy",
            expected: x.shape().to_string(),
            got: dy.shape().to_string(),
        });
    }
    gpu::backward(dy, x, gamma, mean, var, eps, training, synced, dims)
}
