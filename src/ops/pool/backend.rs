//! The pooling family of [`Backend`](crate::ops::backend::Backend).

use super::Pool2dParams;
use crate::error::Result;
use crate::ops::backend::Tensors;
use crate::shape::Shape;

/// Window, global and channel pooling of NCHW tensors, forward and backward.
pub trait PoolBackend: Tensors {
    /// (y, arg-max indices when `with_idx`; inference skips them).
    fn max_pool(
        &self,
        x: &Self::T,
        p: &Pool2dParams,
        with_idx: bool,
    ) -> Result<(Self::T, Option<Self::T>)>;
    /// Gradient of max pooling, shaped `x`: each `dy` goes to its window's arg-max in `idx`,
    /// summed where windows overlap.
    fn max_pool_backward(
        &self,
        dy: &Self::T,
        idx: &Self::T,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<Self::T>;
    /// Average pooling of NCHW `x`.
    fn avg_pool(&self, x: &Self::T, p: &Pool2dParams) -> Result<Self::T>;
    /// Gradient of average pooling, shaped `x`.
    fn avg_pool_backward(&self, dy: &Self::T, x: &Shape, p: &Pool2dParams) -> Result<Self::T>;
    /// `[n, c, h, w]` → `[n, c, 1, 1]`.
    fn global_avg_pool(&self, x: &Self::T) -> Result<Self::T>;
    /// Gradient of [`PoolBackend::global_avg_pool`] from dy `[n, c, 1, 1]`, shaped `x`.
    fn global_avg_pool_backward(&self, dy: &Self::T, x: &Shape) -> Result<Self::T>;
    /// Maximum over groups of `k` consecutive channels, `[n, c, h, w]` → `[n, c/k, h, w]`:
    /// (y, flat channel index of each maximum as exact f32 values).
    fn channel_max_pool(&self, x: &Self::T, k: usize) -> Result<(Self::T, Self::T)>;
    /// Gradient of channel max pooling, shaped `x`, from the indices it returned.
    fn channel_max_pool_backward(
        &self,
        dy: &Self::T,
        idx: &Self::T,
        x: &Shape,
        k: usize,
    ) -> Result<Self::T>;
}
