//! Softmax as a layer: the probabilities a classifier's output gives (Keras's `Softmax`, or
//! `activation='softmax'` on the last `Dense`).

use super::{Backend, BackendTensor, Backward, Forward, Grads, LayerImpl};
use crate::error::Result;
use crate::shape::Shape;

/// Softmax over the last axis. As a model's output under a sparse cross-entropy head the
/// loss and metrics read the logits before it (Keras's `from_logits`, done for you), so
/// training is as stable as without the layer while `predict` returns probabilities.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Softmax;

/// `x` viewed as rows of its last axis.
fn rows(x: &Shape) -> Shape {
    let d = x.dims();
    let last = d.last().copied().unwrap_or(1);
    Shape::new([x.numel() / last.max(1), last])
}

impl LayerImpl for Softmax {
    fn kind(&self) -> &'static str {
        "softmax"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        if x[0].rank() < 2 {
            return Err(super::wrong_input("Softmax", "[n, …, classes]", &x[0]));
        }
        Ok(x[0].clone())
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        let shape = x[0].shape().clone();
        let y = b.softmax(&b.reshape(x[0], rows(&shape))?)?;
        Ok((b.reshape(&y, shape)?, pass.keep(vec![y])))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { b, dy, saved, .. } = c;
        let shape = dy.shape().clone();
        let dx = b.softmax_backward(&saved[0], &b.reshape(dy, rows(&shape))?)?;
        Ok((vec![Some(b.reshape(&dx, shape)?)], vec![]))
    }
}
