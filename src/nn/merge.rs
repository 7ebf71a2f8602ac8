//! Merge layers for graphs: residual Add, channel Concat (inception), and the channel gate of
//! squeeze-and-excitation.

use super::{Backend, BackendTensor, Backward, Forward, Grads, LayerImpl};
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

/// `x[n, c, …] · s[n, c]`: each channel of the first input scaled by the matching value of
/// the second (squeeze-and-excitation's scale; Keras's `Multiply` of a feature map by a
/// broadcast `[1, 1, c]` gate). The gate gets `Σ_pixels dy · x`, the map `dy · s`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ChannelMultiply;

/// `[n·c, pixels]` of a `[n, c, …]` shape.
fn channel_rows(x: &Shape) -> Shape {
    let d = x.dims();
    let rows = d.iter().take(2).product::<usize>();
    Shape::new([rows, x.numel() / rows.max(1)])
}

impl LayerImpl for ChannelMultiply {
    fn kind(&self) -> &'static str {
        "channel_multiply"
    }
    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=2
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        let (map, gate) = (x[0].dims(), x[1].dims());
        if map.len() < 3 || gate.len() != 2 || gate != &map[..2] {
            return Err(Error::ShapeMismatch {
                op: "ChannelMultiply",
                what: "inputs",
                expected: "a map [n, c, …] and a gate [n, c]".into(),
                got: format!("{} and {}", x[0], x[1]),
            });
        }
        Ok(x[0].clone())
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        let shape = x[0].shape().clone();
        let rows = channel_rows(&shape);
        let gate = b.reshape(x[1], Shape::new([rows.dims()[0]]))?;
        let y = b.scale_rows(&b.reshape(x[0], rows)?, &gate)?;
        Ok((b.reshape(&y, shape)?, pass.keep(vec![x[0].clone(), gate])))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b,
            dy,
            x,
            saved,
            need,
            ..
        } = c;
        let rows = channel_rows(&x[0]);
        let dy_rows = b.reshape(dy, rows.clone())?;
        let dmap = match need.inputs[0] {
            true => Some(b.reshape(&b.scale_rows(&dy_rows, &saved[1])?, x[0].clone())?),
            false => None,
        };
        let dgate = match need.inputs[1] {
            true => {
                let ds = b.row_dots(&dy_rows, &b.reshape(&saved[0], rows)?)?;
                Some(b.reshape(&ds, x[1].clone())?)
            }
            false => None,
        };
        Ok((vec![dmap, dgate], vec![]))
    }
}
