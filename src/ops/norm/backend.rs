//! The batch-normalisation family of [`Backend`](crate::ops::backend::Backend).

use super::BatchNormParams;
use crate::error::Result;
use crate::ops::backend::Tensors;

/// Batch norm per channel of NCHW (or `[n, c]`) tensors; statistics are `[c]`.
pub trait NormBackend: Tensors {
    /// (y, batch mean, batch biased variance); updates the running statistics in place.
    fn batch_norm_train(
        &self,
        x: &Self::T,
        gamma_beta: [&Self::T; 2],
        running: [&Self::T; 2],
        p: &BatchNormParams,
    ) -> Result<[Self::T; 3]>;
    /// Evaluation-mode batch norm: normalises with the running statistics (mean, variance).
    fn batch_norm_eval(
        &self,
        x: &Self::T,
        gamma_beta: [&Self::T; 2],
        running: [&Self::T; 2],
        eps: f32,
    ) -> Result<Self::T>;
    /// (dx, dgamma, dbeta); `training`: `mean_var` are the batch's statistics.
    fn batch_norm_backward(
        &self,
        dy: &Self::T,
        x: &Self::T,
        gamma: &Self::T,
        mean_var: [&Self::T; 2],
        eps: f32,
        training: bool,
    ) -> Result<[Self::T; 3]>;
    /// [`NormBackend::batch_norm_backward`] of a synchronised training forward pass
    /// (`BatchNormParams::synchronized`): the gradient through the global batch's statistics
    /// of a data-parallel step. One process (the default, and the CPU reference): the
    /// training backward itself.
    fn batch_norm_backward_synced(
        &self,
        dy: &Self::T,
        x: &Self::T,
        gamma: &Self::T,
        mean_var: [&Self::T; 2],
        eps: f32,
    ) -> Result<[Self::T; 3]> {
        self.batch_norm_backward(dy, x, gamma, mean_var, eps, true)
    }
    /// A batch norm in evaluation mode folded into the conv weight `w` and bias `b` before it:
    /// `(w·s, beta + (b − mean)·s)`, `s = gamma/√(var + eps)` per output channel.
    fn fold_batch_norm(
        &self,
        w: &Self::T,
        b: Option<&Self::T>,
        gamma_beta: [&Self::T; 2],
        running: [&Self::T; 2],
        eps: f32,
    ) -> Result<(Self::T, Self::T)>;
}
