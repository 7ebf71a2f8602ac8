//! Local response normalisation across channels (AlexNet; the seeds' formula, TensorFlow's
//! convention): `y_i = a_i / (k + alpha · Σ_j a_j²)^beta` over the channels
//! `j ∈ [i − ⌊size/2⌋, i + ⌊size/2⌋]` at the same position (so an even size spans size + 1
//! channels, as the seeds' formula does). PyTorch's `LocalResponseNorm` divides alpha by the
//! size and, for even sizes, spans `[i − size/2, i + (size−1)/2]`: with an odd size and
//! `alpha / size` the two agree.

pub mod backend;
pub mod cpu;
pub mod gpu;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

const OP: &str = "lrn";

/// Options of a local response normalisation (the module docs give the formula).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct LrnParams {
    /// Channels in the window (AlexNet: 5).
    pub size: usize,
    /// Scale of the sum of squares, not divided by `size` (TensorFlow's convention); ≥ 0.
    pub alpha: f32,
    /// Exponent of the denominator.
    pub beta: f32,
    /// Additive constant of the denominator; > 0.
    pub k: f32,
}

impl Default for LrnParams {
    /// AlexNet's hyper-parameters: r = 5, α = 1e-4, β = 0.75, k = 2.
    fn default() -> Self {
        LrnParams {
            size: 5,
            alpha: 1e-4,
            beta: 0.75,
            k: 2.0,
        }
    }
}

fn check(x: &Tensor, p: &LrnParams) -> Result<(usize, usize, usize)> {
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "input x",
            expected: "rank 4 [n, c, h, w]".into(),
            got: x.shape().to_string(),
        });
    };
    if p.size == 0 {
        return Err(Error::invalid(OP, "size", p.size, "must be at least 1"));
    }
    if !(p.k > 0.0
        && p.alpha >= 0.0
        && p.beta.is_finite()
        && p.alpha.is_finite()
        && p.k.is_finite())
    {
        return Err(Error::invalid(
            OP,
            "k, alpha, beta",
            format!("{}, {}, {}", p.k, p.alpha, p.beta),
            "need k > 0, alpha ≥ 0, all finite",
        ));
    }
    if x.numel() as u64 > u64::from(u32::MAX) {
        return Err(Error::TooLarge {
            what: format!("LRN input {}", x.shape()),
            bytes: x.numel() as u64 * 4,
            limit: u64::from(u32::MAX),
        });
    }
    // backward_data walks the channel window twice: 2·(window + 1) + 1 loop passes.
    let window = (p.size / 2 * 2 + 1).min(c);
    let budget = x.gpu().loop_budget();
    if 2 * window + 3 > budget {
        return Err(Error::LoopBudget {
            op: OP,
            what: format!("a window of {window} channels"),
            passes: 2 * window + 3,
            budget,
        });
    }
    Ok((n, c, h * w))
}

/// `y = lrn(x)` for `x` `[n, c, h, w]`, across the channels at each pixel.
///
/// Fails with `Error::LoopBudget` when a window of channels is too long for one invocation.
pub fn lrn(x: &Tensor, p: &LrnParams) -> Result<Tensor> {
    let dims = check(x, p)?;
    gpu::forward(x, p, dims)
}

/// Gradient with respect to the input: `dx` from `dy` and the forward's input `x` (same
/// shape).
pub fn lrn_backward(dy: &Tensor, x: &Tensor, p: &LrnParams) -> Result<Tensor> {
    let dims = check(x, p)?;
    crate::ops::same_device(OP, &[x, dy])?;
    if dy.shape() != x.shape() {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "dy",
            expected: x.shape().to_string(),
            got: dy.shape().to_string(),
        });
    }
    gpu::backward(dy, x, p, dims)
}
