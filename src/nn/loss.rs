//! Losses over a model's outputs (logits), and the weighted heads of a multi-output model.

use super::{Backend, BackendTensor};
use crate::error::{Error, Result};
use crate::ops::reduce::{PointwiseLoss, PointwiseMetric};
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

/// A metric a head reports beside its loss, computed on the GPU every step and read back
/// only when logged. Each is a per-sample mean over a batch, averaged over the samples seen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Metric {
    /// Keras's `accuracy` of a sparse cross-entropy head: the arg-max is the target class
    /// (ties go to the lower class index).
    Accuracy,
    /// The target class among the `k` largest logits (Keras's
    /// `SparseTopKCategoricalAccuracy(k)`), logged as `top_{k}_accuracy`.
    TopK(usize),
    /// Keras's `binary_accuracy` of a head that outputs logits: the sigmoid and the target
    /// on the same side of 0.5, averaged over every element.
    BinaryAccuracy,
    /// Mean squared error over every element (`mse`).
    Mse,
    /// Mean absolute error over every element (`mae`).
    Mae,
}

impl Metric {
    /// The name in logs and history (Keras's; a multi-head model prefixes the output's name).
    pub fn name(self) -> String {
        match self {
            Metric::Accuracy => "accuracy".into(),
            Metric::TopK(k) => format!("top_{k}_accuracy"),
            Metric::BinaryAccuracy => "binary_accuracy".into(),
            Metric::Mse => "mse".into(),
            Metric::Mae => "mae".into(),
        }
    }

    /// Whether the metric reads class-index targets (a sparse cross-entropy head) rather than
    /// targets of the output's shape.
    pub fn needs_class_targets(self) -> bool {
        matches!(self, Metric::Accuracy | Metric::TopK(_))
    }

    /// `[1]`: the metric's mean over the batch of `out` against `target`.
    pub(crate) fn apply<B: Backend>(self, b: &B, out: &B::T, target: &B::T) -> Result<B::T> {
        let n = out.shape().dims().first().copied().unwrap_or(1).max(1);
        let pointwise = |m| b.pointwise_metric(out, target, m);
        match self {
            Metric::Accuracy | Metric::TopK(_) => {
                let k = match self {
                    Metric::TopK(k) => k,
                    _ => 1,
                };
                let hits = b.topk_hits(out, target, k)?;
                b.axpby(1.0 / n as f32, &hits, 0.0, &hits)
            }
            Metric::BinaryAccuracy => pointwise(PointwiseMetric::BinaryHits),
            Metric::Mse => pointwise(PointwiseMetric::SquaredError),
            Metric::Mae => pointwise(PointwiseMetric::AbsoluteError),
        }
    }
}

/// A loss on output `output` of the graph, weighted in the total, with the metrics it reports.
#[derive(Clone, PartialEq, Debug)]
pub struct Head {
    /// Index into the graph's outputs ([`crate::graph::Graph::outputs`]).
    pub output: usize,
    /// The loss applied to that output.
    pub loss: Loss,
    /// Its factor in the total loss `Σ weight · loss`; 1 by default, must be finite.
    pub weight: f32,
    /// What the head reports beside its loss: by default accuracy for sparse cross-entropy,
    /// binary accuracy for binary cross-entropy, nothing for mean squared error.
    pub metrics: Vec<Metric>,
}

impl Head {
    /// `loss` on output `output`, weight 1, the loss's default metrics.
    pub fn new(output: usize, loss: Loss) -> Head {
        let metrics = match loss {
            Loss::SparseCategoricalCrossentropy => vec![Metric::Accuracy],
            Loss::BinaryCrossentropy => vec![Metric::BinaryAccuracy],
            Loss::MeanSquaredError => Vec::new(),
        };
        Head {
            output,
            loss,
            weight: 1.0,
            metrics,
        }
    }
    /// Sets the head's weight in the total loss.
    pub fn weight(mut self, w: f32) -> Head {
        self.weight = w;
        self
    }
    /// Sets the metrics the head reports (replacing the defaults).
    pub fn metrics(mut self, metrics: &[Metric]) -> Head {
        self.metrics = metrics.to_vec();
        self
    }

    /// An error unless every metric suits the loss's targets (class indices for accuracy and
    /// top-k; the output's shape for the pointwise metrics) and top-k has `k ≥ 1`.
    pub(crate) fn check_metrics(&self) -> Result<()> {
        for &m in &self.metrics {
            if m.needs_class_targets() != self.loss.is_classification() || m == Metric::TopK(0) {
                return Err(Error::Model(format!(
                    "metric {} does not apply to a {:?} head",
                    m.name(),
                    self.loss
                )));
            }
        }
        Ok(())
    }
}

/// The names of what a model with `heads` logs, in order: `loss`, then each head's loss and
/// each head's metrics. With one head these are Keras's bare names (`loss`, `accuracy`);
/// with several, each is prefixed with its output's name (`class_loss`, `box_mse`).
/// `outputs` names the graph's outputs.
pub fn log_names(heads: &[Head], outputs: &[String]) -> Vec<String> {
    log_entries(heads, outputs)
        .into_iter()
        .map(|e| e.0)
        .collect()
}

/// [`log_names`] with the metric behind each name (`None` for the losses).
pub(crate) fn log_entries(heads: &[Head], outputs: &[String]) -> Vec<(String, Option<Metric>)> {
    let prefix = |h: &Head| match heads.len() {
        1 => String::new(),
        _ => format!(
            "{}_",
            outputs.get(h.output).map_or("output", |s| s.as_str())
        ),
    };
    let mut names = vec![("loss".to_string(), None)];
    if heads.len() > 1 {
        names.extend(heads.iter().map(|h| (format!("{}loss", prefix(h)), None)));
    }
    for h in heads {
        let p = prefix(h);
        names.extend(
            h.metrics
                .iter()
                .map(|&m| (format!("{p}{}", m.name()), Some(m))),
        );
    }
    names
}
