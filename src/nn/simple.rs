//! Dropout, Flatten, Reshape and the training-time augmentation layer.

use super::{Backend, BackendTensor, Backward, Forward, Grads, LayerImpl};
use crate::error::{Error, Result};
use crate::ops::augment::AugmentParams;
use crate::shape::Shape;

/// Inverted dropout: zeroes each element with probability `rate` in training and scales the
/// rest by 1 / (1 − rate); the identity in inference.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout(pub f32);

impl Dropout {
    /// Dropout of `rate`, in [0, 1) (checked when the layer is added to a graph).
    pub fn new(rate: f32) -> Dropout {
        Dropout(rate)
    }
}

impl LayerImpl for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        if !(0.0..1.0).contains(&self.0) {
            return Err(Error::invalid(
                "Dropout",
                "rate",
                self.0,
                "must be in [0, 1)",
            ));
        }
        Ok(x[0].clone())
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        match pass.training && self.0 > 0.0 {
            true => Ok((b.dropout(x[0], self.0, pass.seed, pass.step)?, vec![])),
            false => Ok((x[0].clone(), vec![])),
        }
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { b, dy, pass, .. } = c;
        match self.0 > 0.0 {
            true => Ok((
                vec![Some(b.dropout_backward(dy, self.0, pass.seed, pass.step)?)],
                vec![],
            )),
            false => Ok((vec![Some(dy.clone())], vec![])),
        }
    }
}

/// `[n, …]` → `[n, product of the rest]` (a free view).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Flatten;

impl LayerImpl for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        let d = x[0].dims();
        Ok(Shape::new([d[0], d[1..].iter().product()]))
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let out = self.output_shape(&[c.x[0].shape().clone()])?;
        Ok((c.b.reshape(c.x[0], out)?, vec![]))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        view_backward(c)
    }
}

/// `[n, …]` → `[n, dims…]` (Keras's `Reshape`, a free view): `dims` is the per-sample
/// shape, one entry of which may be −1 for "whatever makes the element count match".
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape(pub Vec<isize>);

impl Reshape {
    /// The per-sample target shape, one entry −1 at most.
    pub fn new(dims: &[isize]) -> Reshape {
        Reshape(dims.to_vec())
    }
}

impl LayerImpl for Reshape {
    fn kind(&self) -> &'static str {
        "reshape"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        let d = x[0].dims();
        let per: usize = d[1..].iter().product();
        let bad = |why: &str| Error::invalid("Reshape", "dims", format!("{:?}", self.0), why);
        let known: usize = self
            .0
            .iter()
            .filter(|&&v| v != -1)
            .map(|&v| v as usize)
            .product();
        if self.0.is_empty() || self.0.iter().any(|&v| v == 0 || v < -1) {
            return Err(bad("must be positive sizes and at most one -1"));
        }
        let dims: Vec<usize> = match self.0.iter().filter(|&&v| v == -1).count() {
            0 if known == per => self.0.iter().map(|&v| v as usize).collect(),
            1 if per.is_multiple_of(known) => self
                .0
                .iter()
                .map(|&v| if v == -1 { per / known } else { v as usize })
                .collect(),
            0 | 1 => {
                return Err(Error::ShapeMismatch {
                    op: "Reshape",
                    what: "element count",
                    expected: format!("{per} per sample (input {})", x[0]),
                    got: format!("{:?}", self.0),
                })
            }
            _ => return Err(bad("may hold one -1")),
        };
        Ok(Shape::new(
            std::iter::once(d[0]).chain(dims).collect::<Vec<_>>(),
        ))
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let out = self.output_shape(&[c.x[0].shape().clone()])?;
        Ok((c.b.reshape(c.x[0], out)?, vec![]))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        view_backward(c)
    }
}

/// Random augmentation of the input images in training (flips, shifts, rotation, zoom,
/// shear, contrast, brightness, fill modes; see [`AugmentParams`]), the identity in
/// inference. It must come before every trainable layer: it has no gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct Augment(pub AugmentParams);

impl Augment {
    /// CIFAR's usual recipe: horizontal flips and shifts of up to `shift` pixels.
    pub fn flip_and_shift(shift: usize) -> Augment {
        Augment(AugmentParams {
            flip: true,
            max_shift: shift,
            ..AugmentParams::default()
        })
    }
}

impl LayerImpl for Augment {
    fn kind(&self) -> &'static str {
        "augment"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        self.0.validate()?;
        match x[0].rank() {
            4 => Ok(x[0].clone()),
            _ => Err(super::wrong_input("Augment", "rank 4 [n, c, h, w]", &x[0])),
        }
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        match pass.training {
            true => Ok((b.augment(x[0], &self.0, pass.seed, pass.step)?, vec![])),
            false => Ok((x[0].clone(), vec![])),
        }
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { need, .. } = c;
        if need.inputs[0] {
            return Err(Error::Model(
                "Augment has no gradient: put it before every trainable layer".into(),
            ));
        }
        Ok((vec![None], vec![]))
    }
}

/// The gradient of a view (Flatten, Reshape): `dy` under the input's shape.
fn view_backward<B: Backend>(c: Backward<'_, B>) -> Result<Grads<B::T>> {
    Ok((vec![Some(c.b.reshape(c.dy, c.x[0].clone())?)], vec![]))
}
