//! The dense (fully connected) family of [`Backend`](crate::ops::backend::Backend).

use crate::error::Result;
use crate::ops::backend::Tensors;

/// Dense layers: x `[n, in]`, w `[out, in]`, b `[out]`.
pub trait MatmulBackend: Tensors {
    /// `x·wᵀ + b`.
    fn dense(&self, x: &Self::T, w: &Self::T, b: Option<&Self::T>) -> Result<Self::T>;
    /// `dx = dy·w`: dy `[n, out]`.
    fn dense_backward_data(&self, dy: &Self::T, w: &Self::T) -> Result<Self::T>;
    /// `dw = dyᵀ·x`, `[out, in]`.
    fn dense_backward_filter(&self, x: &Self::T, dy: &Self::T) -> Result<Self::T>;
    /// `db`: `dy` `[n, out]` summed over the batch.
    fn dense_backward_bias(&self, dy: &Self::T) -> Result<Self::T>;
}
