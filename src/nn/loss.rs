//! Losses over a model's outputs (logits), and the weighted heads of a multi-output model.

use super::{Backend, BackendTensor};
use crate::error::{Error, Result};
use crate::ops::reduce::PointwiseLoss;
use crate::shape::Shape;

/// A loss on one output. All take raw outputs (logits); softmax / sigmoid live inside the
/// loss, which is both stabler and what PyTorch's losses do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Loss {
    /// Softmax cross-entropy against class indices (Keras's
    /// `SparseCategoricalCrossentropy(from_logits=True)`); targets are one index per sample.
    SparseCategoricalCrossentropy,
    /// Mean squared error; targets have the output's shape.
    MeanSquaredError,
    /// Binary cross-entropy on logits; targets in [0, 1] with the output's shape.
    BinaryCrossentropy,
}

impl Loss {
    /// Target elements per sample for an output of per-sample shape `out`.
    pub fn target_len(self, out: &Shape) -> usize {
        match self {
            Loss::SparseCategoricalCrossentropy => 1,
            _ => out.numel(),
        }
    }

    /// Whether the head counts correct predictions (accuracy).
    pub fn is_classification(self) -> bool {
        self == Loss::SparseCategoricalCrossentropy
    }

    /// (mean loss `[1]`, d loss / d output).
    pub(crate) fn apply<B: Backend>(
        self,
        b: &B,
        out: &B::T,
        target: &B::T,
    ) -> Result<(B::T, B::T)> {
        match self {
            Loss::SparseCategoricalCrossentropy => {
                if out.shape().rank() != 2 {
                    return Err(Error::Model(format!(
                        "sparse categorical cross-entropy needs [n, classes] outputs, got {}",
                        out.shape()
                    )));
                }
                b.softmax_cross_entropy(out, target)
            }
            Loss::MeanSquaredError => b.pointwise_loss(out, target, PointwiseLoss::Mse),
            Loss::BinaryCrossentropy => b.pointwise_loss(out, target, PointwiseLoss::BceWithLogits),
        }
    }
}

/// A loss on output `output` of the graph, weighted in the total.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Head {
    /// Index into the graph's outputs ([`crate::graph::Graph::outputs`]).
    pub output: usize,
    /// The loss applied to that output.
    pub loss: Loss,
    /// Its factor in the total loss `Σ weight · loss`; 1 by default, must be finite.
    pub weight: f32,
}

impl Head {
    /// `loss` on output `output`, weight 1.
    pub fn new(output: usize, loss: Loss) -> Head {
        Head {
            output,
            loss,
            weight: 1.0,
        }
    }
    /// Sets the head's weight in the total loss.
    pub fn weight(mut self, w: f32) -> Head {
        self.weight = w;
        self
    }
}
