//! The local-response-normalisation family of [`Backend`](crate::ops::backend::Backend).

use super::LrnParams;
use crate::error::Result;
use crate::ops::backend::Tensors;

/// Local response normalisation across the channels of NCHW tensors.
pub trait LrnBackend: Tensors {
    /// LRN of `x`.
    fn lrn(&self, x: &Self::T, p: &LrnParams) -> Result<Self::T>;
    /// Gradient of [`LrnBackend::lrn`] from its input `x`.
    fn lrn_backward(&self, dy: &Self::T, x: &Self::T, p: &LrnParams) -> Result<Self::T>;
}
