//! What a [`Model`] checks before it trains on data: a batch's sizes and labels, a source's
//! sample shape and head count.

use super::source::Source;
use super::Model;
use crate::error::{Error, Result};

impl Model {
    /// Checks a batch: input length and targets per head (class indices in range).
    pub(super) fn check_batch(&self, x: &[f32], targets: &[&[f32]]) -> Result<usize> {
        let per = self.graph.shape(self.graph.inputs[0]).numel();
        if per == 0 || x.is_empty() || !x.len().is_multiple_of(per) {
            return Err(Error::ShapeMismatch {
                op: "Model",
                what: "batch inputs",
                expected: format!("a multiple of {per} values"),
                got: x.len().to_string(),
            });
        }
        let n = x.len() / per;
        if targets.len() != self.heads.len() {
            return Err(Error::Model(format!(
                "{} target arrays for {} loss heads",
                targets.len(),
                self.heads.len()
            )));
        }
        for (h, t) in self.heads.iter().zip(targets) {
            let out = self.graph.shape(self.graph.outputs[h.output]);
            if t.len() != n * h.loss.target_len(out) {
                return Err(Error::ShapeMismatch {
                    op: "Model",
                    what: "batch targets",
                    expected: format!("{} values", n * h.loss.target_len(out)),
                    got: t.len().to_string(),
                });
            }
            if h.loss.is_classification() {
                let classes = out.numel() as f32;
                if let Some(bad) = t
                    .iter()
                    .find(|&&v| !(v >= 0.0 && v < classes && v.fract() == 0.0))
                {
                    return Err(Error::invalid(
                        "Model",
                        "class label",
                        bad,
                        format!("classes are 0..{classes}"),
                    ));
                }
            }
        }
        Ok(n)
    }

    /// Checks that a source has samples of the model's input shape and one target set per
    /// loss head, and runs its own [`Source::validate`]; returns whether every value is then
    /// known to be finite (else each batch is scanned as it comes).
    pub(super) fn check_source(&self, d: &dyn Source) -> Result<bool> {
        if d.is_empty() {
            return Err(Error::invalid(
                "Model",
                "dataset",
                "0 samples",
                "needs at least one sample",
            ));
        }
        let want = self.graph.shape(self.graph.inputs[0]);
        if d.sample() != want {
            return Err(Error::ShapeMismatch {
                op: "Model",
                what: "dataset samples",
                expected: want.to_string(),
                got: d.sample().to_string(),
            });
        }
        if d.heads() != self.heads.len() {
            return Err(Error::Model(format!(
                "the dataset has {} target sets for {} loss heads",
                d.heads(),
                self.heads.len()
            )));
        }
        d.validate()
    }
}
