//! The loss family of [`Backend`](crate::ops::backend::Backend): the reductions training needs
//! (losses, softmax, metrics, and the row products of channel gates).

use super::{PointwiseLoss, PointwiseMetric};
use crate::error::Result;
use crate::ops::backend::Tensors;

/// Losses with their gradients, and the metrics reported beside them.
pub trait LossBackend: Tensors {
    /// (mean loss `[1]`, d loss / d logits) for class indices held as exact f32 values.
    fn softmax_cross_entropy(
        &self,
        logits: &Self::T,
        targets: &Self::T,
    ) -> Result<(Self::T, Self::T)>;
    /// (loss `[1]`, d loss / d pred) of a loss averaged over every element, for `pred` and
    /// `target` of one shape.
    fn pointwise_loss(
        &self,
        pred: &Self::T,
        target: &Self::T,
        loss: PointwiseLoss,
    ) -> Result<(Self::T, Self::T)>;
    /// Row-wise softmax of `[n, classes]`.
    fn softmax(&self, x: &Self::T) -> Result<Self::T>;
    /// d loss / d x of [`softmax`](LossBackend::softmax) from its output `y` and `dy`.
    fn softmax_backward(&self, y: &Self::T, dy: &Self::T) -> Result<Self::T>;
    /// `[1]`: rows with fewer than `k` classes ranked before the target (a larger logit, or
    /// an equal one at a lower index), so `k = 1` counts correct arg-max predictions.
    fn topk_hits(&self, logits: &Self::T, targets: &Self::T, k: usize) -> Result<Self::T>;
    /// `x[r, c] · s[r]` for `x` of `[rows, cols]` and `s` of `[rows]` (a channel gate).
    fn scale_rows(&self, x: &Self::T, s: &Self::T) -> Result<Self::T>;
    /// `[rows]`: `Σ_c a[r, c] · b[r, c]` of two `[rows, cols]` tensors.
    fn row_dots(&self, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// `[1]`: the mean of `metric` over `pred` and `target` of one shape.
    fn pointwise_metric(
        &self,
        pred: &Self::T,
        target: &Self::T,
        metric: PointwiseMetric,
    ) -> Result<Self::T>;
}
