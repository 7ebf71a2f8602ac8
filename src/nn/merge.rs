//! Merge layers for graphs: residual Add and channel Concat (inception).

use super::{Backend, Backward, Forward, Grads, LayerImpl};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// Elementwise sum of two or more tensors of one shape (residual connections).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Add;

impl LayerImpl for Add {
    fn kind(&self) -> &'static str {
        "add"
    }
    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=usize::MAX
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        if let Some(s) = x.iter().find(|s| *s != &x[0]) {
            return Err(Error::ShapeMismatch {
                op: "Add",
                what: "inputs",
                expected: format!("all {}", x[0]),
                got: s.to_string(),
            });
        }
        Ok(x[0].clone())
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, .. } = c;
        let mut y = b.axpby(1.0, x[0], 1.0, x[1])?;
        for t in &x[2..] {
            y = b.axpby(1.0, &y, 1.0, t)?;
        }
        Ok((y, vec![]))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { dy, x, need, .. } = c;
        let dx = (0..x.len())
            .map(|i| need.inputs[i].then(|| dy.clone()))
            .collect();
        Ok((dx, vec![]))
    }
}

/// `max(a + b, 0)`: a residual unit's sum and ReLU in one pass (one dispatch, one buffer,
/// instead of `Add` then `Activation::Relu`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AddRelu;

impl LayerImpl for AddRelu {
    fn kind(&self) -> &'static str {
        "add_relu"
    }
    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=2
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        Add.output_shape(x)
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        let y = b.add_relu(x[0], x[1])?;
        let saved = pass.keep(vec![y.clone()]);
        Ok((y, saved))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b, dy, saved, need, ..
        } = c;
        let dz = b.activation_backward_from_output(
            dy,
            &saved[0],
            crate::ops::elementwise::Activation::Relu,
        )?;
        Ok((
            need.inputs.iter().map(|&n| n.then(|| dz.clone())).collect(),
            vec![],
        ))
    }
}

/// Concatenation along the channel axis of NCHW tensors with equal n, h, w.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Concat;

impl LayerImpl for Concat {
    fn kind(&self) -> &'static str {
        "concatenate"
    }
    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=usize::MAX
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        let mut c = 0;
        for s in x {
            match (s.dims(), x[0].dims()) {
                (&[n, ci, h, w], &[n0, _, h0, w0]) if (n, h, w) == (n0, h0, w0) => c += ci,
                _ => {
                    return Err(Error::ShapeMismatch {
                        op: "Concat",
                        what: "inputs",
                        expected: format!("[n, any, h, w] like {}", x[0]),
                        got: s.to_string(),
                    })
                }
            }
        }
        let d = x[0].dims();
        Ok(Shape::new([d[0], c, d[2], d[3]]))
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, .. } = c;
        Ok((b.concat(x)?, vec![]))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { b, dy, x, need, .. } = c;
        let sizes: Vec<usize> = x.iter().map(|s| s.dims()[1]).collect();
        let parts = b.split(dy, &sizes)?;
        Ok((
            parts
                .into_iter()
                .zip(&need.inputs)
                .map(|(p, &n)| n.then_some(p))
                .collect(),
            vec![],
        ))
    }
}
