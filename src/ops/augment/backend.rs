//! The augmentation family of [`Backend`](crate::ops::backend::Backend).

use super::AugmentParams;
use crate::error::Result;
use crate::ops::backend::Tensors;

/// Random image augmentation of NCHW batches.
pub trait AugmentBackend: Tensors {
    /// Random augmentation keyed by (seed, step); a compiled plan advances `step` itself.
    fn augment(&self, x: &Self::T, p: &AugmentParams, seed: u32, step: u32) -> Result<Self::T>;
}
