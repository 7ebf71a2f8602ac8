//! The loss family of [`Backend`](crate::ops::backend::Backend): the reductions training needs.

use super::PointwiseLoss;
use crate::error::Result;
use crate::ops::backend::Tensors;

/// Losses with their gradients, and classification hits.
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
    /// `[1]`: rows whose target class has the largest logit (ties count for the target).
    fn hits(&self, logits: &Self::T, targets: &Self::T) -> Result<Self::T>;
}
