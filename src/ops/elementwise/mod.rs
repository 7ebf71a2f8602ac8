//! Elementwise ops: activations and their gradients, residual add, scale, per-channel bias,
//! dropout with a counter-based mask, and channel concat/split. Flatten is
//! [`Tensor::reshape`](crate::Tensor::reshape), a free view.

pub mod backend;
pub mod cpu;
pub mod dropout;
pub mod gpu;

use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

const OP: &str = "elementwise";

/// An activation function.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Activation {
    /// max(x, 0); derivative 0 at 0, as PyTorch.
    Relu,
    /// x for x > 0, else `alpha·x`.
    LeakyRelu(f32),
    /// x for x > 0, else `alpha·(eˣ − 1)`.
    Elu(f32),
    /// The hyperbolic tangent, computed in an overflow-free form.
    Tanh,
    /// The logistic function `1 / (1 + e⁻ˣ)`, computed in an overflow-free form.
    Sigmoid,
    /// min(max(x, 0), 6) (PyTorch `ReLU6`, Keras `relu6`); derivative 0 at 0 and at 6, as
    /// PyTorch's `hardtanh_backward`.
    Relu6,
}

impl Activation {
    /// Whether f'(x) follows from y = f(x) alone (what a fused forward keeps): always but for
    /// LeakyReLU and ELU with alpha ≤ 0, where the sign of y no longer tells that of x.
    pub fn grad_from_output(self) -> bool {
        match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => a > 0.0,
            _ => true,
        }
    }

    /// (op code, alpha) of the shader's `act`.
    pub(crate) fn code(self) -> (u32, f32) {
        match self {
            Activation::Relu => (0, 0.0),
            Activation::LeakyRelu(a) => (1, a),
            Activation::Elu(a) => (2, a),
            Activation::Tanh => (3, 0.0),
            Activation::Sigmoid => (4, 0.0),
            Activation::Relu6 => (5, 0.0),
        }
    }
}

fn same_shape(what: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    crate::ops::same_device(OP, &[a, b])?;
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op: OP,
            what,
            expected: a.shape().to_string(),
            got: b.shape().to_string(),
        });
    }
    Ok(())
}

/// `y = f(x)`.
pub fn activation(x: &Tensor, f: Activation) -> Result<Tensor> {
    gpu::activation_forward(x, f)
}

/// `dx = dy · f'(x)` from the output `y = f(x)` (see [`Activation::grad_from_output`]).
pub fn activation_backward_from_output(dy: &Tensor, y: &Tensor, f: Activation) -> Result<Tensor> {
    same_shape("dy against y", y, dy)?;
    if !f.grad_from_output() {
        return Err(Error::invalid(
            OP,
            "activation",
            format!("{f:?}"),
            "its gradient needs the input (alpha ≤ 0)",
        ));
    }
    gpu::activation_backward_output(dy, y, f)
}

/// `dx = dy · f'(x)`.
pub fn activation_backward(dy: &Tensor, x: &Tensor, f: Activation) -> Result<Tensor> {
    same_shape("dy against x", x, dy)?;
    gpu::activation_backward(dy, x, f)
}

/// `a + b` (residual connections); the gradient reaches both inputs unchanged.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_shape("b against a", a, b)?;
    gpu::binary(a, Some(b), 1.0, 1.0)
}

/// `max(a + b, 0)`: a residual unit's add and ReLU in one pass.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_shape("b against a", a, b)?;
    gpu::add_relu(a, b)
}

/// `alpha·a + beta·b`.
pub fn axpby(alpha: f32, a: &Tensor, beta: f32, b: &Tensor) -> Result<Tensor> {
    same_shape("b against a", a, b)?;
    gpu::binary(a, Some(b), alpha, beta)
}

/// `alpha·x`.
pub fn scale(x: &Tensor, alpha: f32) -> Result<Tensor> {
    gpu::binary(x, None, alpha, 0.0)
}

/// `x + b[c]` for x `[n, c, …]` and b `[c]`. Its gradient for b is
/// [`conv2d_backward_bias`](crate::conv2d_backward_bias) (NCHW) or a batch sum.
pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    crate::ops::same_device(OP, &[x, b])?;
    let c = match x.dims() {
        [_, c, ..] => *c,
        _ => 0,
    };
    if c == 0 || b.dims() != [c] {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "bias b",
            expected: format!("[{c}] for x {} (rank ≥ 2)", x.shape()),
            got: b.shape().to_string(),
        });
    }
    gpu::bias_add(x, b, c)
}

/// Inverted dropout: each element is kept with probability `1 − rate` and scaled by
/// `1 / (1 − rate)`. The mask is a hash of `(seed, step, index)`, so the same arguments give the
/// same mask, and [`dropout_backward`] recomputes it instead of storing it.
pub fn dropout(x: &Tensor, rate: f32, seed: u32, step: u32) -> Result<Tensor> {
    dropout::dropout(x, check_rate(rate)?, seed, step)
}

/// Gradient of [`dropout()`] with the same `rate`, `seed` and `step`: the same mask applied to `dy`.
pub fn dropout_backward(dy: &Tensor, rate: f32, seed: u32, step: u32) -> Result<Tensor> {
    dropout::dropout(dy, check_rate(rate)?, seed, step)
}

fn check_rate(rate: f32) -> Result<f32> {
    if (0.0..1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(Error::invalid(
            OP,
            "dropout rate",
            rate,
            "must be in [0, 1)",
        ))
    }
}

/// Concatenates NCHW tensors (equal n, h, w) along channels (inception modules).
pub fn concat_channels(parts: &[&Tensor]) -> Result<Tensor> {
    let Some(first) = parts.first() else {
        return Err(Error::invalid(
            OP,
            "parts",
            0,
            "concat needs at least one tensor",
        ));
    };
    crate::ops::same_device(OP, parts)?;
    let &[n, _, h, w] = first.dims() else {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "concat input",
            expected: "rank 4 [n, c, h, w]".into(),
            got: first.shape().to_string(),
        });
    };
    let mut c_total = 0;
    for t in parts {
        match *t.dims() {
            [tn, c, th, tw] if (tn, th, tw) == (n, h, w) => c_total += c,
            _ => {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    what: "concat input",
                    expected: format!("[{n}, c, {h}, {w}]"),
                    got: t.shape().to_string(),
                })
            }
        }
    }
    let out = Tensor::uninit(first.gpu(), Shape::new([n, c_total, h, w]))?;
    let mut offset = 0;
    for t in parts {
        gpu::copy_channels(t, &out, offset, true)?;
        offset += t.dims()[1];
    }
    Ok(out)
}

/// Splits an NCHW tensor along channels into parts of `sizes` channels (the gradient of
/// [`concat_channels`]).
pub fn split_channels(x: &Tensor, sizes: &[usize]) -> Result<Vec<Tensor>> {
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "split input",
            expected: "rank 4 [n, c, h, w]".into(),
            got: x.shape().to_string(),
        });
    };
    if sizes.iter().sum::<usize>() != c || sizes.contains(&0) {
        return Err(Error::invalid(
            OP,
            "split sizes",
            format!("{sizes:?}"),
            format!("must be positive and add up to the {c} channels"),
        ));
    }
    let mut offset = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for &s in sizes {
        let part = Tensor::uninit(x.gpu(), Shape::new([n, s, h, w]))?;
        gpu::copy_channels(x, &part, offset, false)?;
        offset += s;
        out.push(part);
    }
    Ok(out)
}

/// Counts a training step in `watch` (`[3]`: steps, first, value) and notes the first step
/// whose one-value `loss` is NaN or infinite: how `fit` finds the step where training broke
/// without reading the loss back every step.
pub fn track_nonfinite(loss: &Tensor, watch: &Tensor) -> Result<()> {
    crate::ops::same_device("track_nonfinite", &[loss, watch])?;
    gpu::track_nonfinite(loss, watch)
}
