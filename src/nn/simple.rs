//! Dropout and Flatten.

use super::{Backend, BackendTensor, Grads, LayerImpl, Need, Pass};
use crate::error::{Error, Result};
use crate::shape::Shape;

/// Inverted dropout: zeroes each element with probability `rate` in training and scales the
/// rest by 1 / (1 − rate); the identity in inference.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout(pub f32);

impl Dropout {
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
    fn forward<B: Backend>(
        &self,
        b: &B,
        x: &[&B::T],
        _: &[B::T],
        pass: Pass,
    ) -> Result<(B::T, Vec<B::T>)> {
        match pass.training && self.0 > 0.0 {
            true => Ok((b.dropout(x[0], self.0, pass.seed, pass.step)?, vec![])),
            false => Ok((x[0].clone(), vec![])),
        }
    }
    fn backward<B: Backend>(
        &self,
        b: &B,
        dy: &B::T,
        _: &[Shape],
        _: &[B::T],
        _: &[B::T],
        pass: Pass,
        _: &Need,
    ) -> Result<Grads<B::T>> {
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
    fn forward<B: Backend>(
        &self,
        b: &B,
        x: &[&B::T],
        _: &[B::T],
        _: Pass,
    ) -> Result<(B::T, Vec<B::T>)> {
        Ok((
            b.reshape(x[0], self.output_shape(&[x[0].shape().clone()])?)?,
            vec![],
        ))
    }
    fn backward<B: Backend>(
        &self,
        b: &B,
        dy: &B::T,
        x: &[Shape],
        _: &[B::T],
        _: &[B::T],
        _: Pass,
        _: &Need,
    ) -> Result<Grads<B::T>> {
        Ok((vec![Some(b.reshape(dy, x[0].clone())?)], vec![]))
    }
}
