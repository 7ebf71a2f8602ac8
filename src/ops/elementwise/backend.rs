//! The elementwise family of [`Backend`](crate::ops::backend::Backend).

use super::Activation;
use crate::error::Result;
use crate::ops::backend::Tensors;

/// Activations, dropout, sums and channel concat/split.
pub trait ElementwiseBackend: Tensors {
    /// `f(x)` elementwise.
    fn activation(&self, x: &Self::T, f: Activation) -> Result<Self::T>;
    /// `dy · f'(x)` from the activation's input `x`.
    fn activation_backward(&self, dy: &Self::T, x: &Self::T, f: Activation) -> Result<Self::T>;
    /// `dy · f'(x)` from `y = f(x)` (see `Activation::grad_from_output`).
    fn activation_backward_from_output(
        &self,
        dy: &Self::T,
        y: &Self::T,
        f: Activation,
    ) -> Result<Self::T>;
    /// Dropout whose mask is keyed by (seed, step); a compiled plan advances `step` itself.
    fn dropout(&self, x: &Self::T, rate: f32, seed: u32, step: u32) -> Result<Self::T>;
    /// Gradient of [`ElementwiseBackend::dropout`]: the mask of the same `rate`, `seed` and
    /// `step` recomputed and applied to `dy`.
    fn dropout_backward(&self, dy: &Self::T, rate: f32, seed: u32, step: u32) -> Result<Self::T> {
        self.dropout(dy, rate, seed, step)
    }
    /// `alpha·a + beta·b` for `a` and `b` of one shape.
    fn axpby(&self, alpha: f32, a: &Self::T, beta: f32, b: &Self::T) -> Result<Self::T>;
    /// `max(a + b, 0)`; a backend may fuse the two.
    fn add_relu(&self, a: &Self::T, b: &Self::T) -> Result<Self::T> {
        let sum = self.axpby(1.0, a, 1.0, b)?;
        self.activation(&sum, Activation::Relu)
    }
    /// Concatenates NCHW tensors of equal n, h, w along channels.
    fn concat(&self, parts: &[&Self::T]) -> Result<Self::T>;
    /// Splits NCHW `x` along channels into parts of `sizes` channels (the gradient of
    /// [`ElementwiseBackend::concat`]).
    fn split(&self, x: &Self::T, sizes: &[usize]) -> Result<Vec<Self::T>>;
}
