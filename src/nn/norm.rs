//! Normalisation layers: BatchNorm2d and BatchNorm1d (PyTorch's names, eps and momentum) and
//! LRN.

use super::{
    wrong_input, Backend, BackendTensor, Backward, Forward, Grads, Init, LayerImpl, ParamSpec,
};
use crate::error::Result;
use crate::ops::lrn::LrnParams;
use crate::ops::norm::BatchNormParams;
use crate::shape::Shape;

/// Batch normalisation over the channels of `[n, c, h, w]`. Trainable `weight` (γ) and
/// `bias` (β); buffers `running_mean`, `running_var`. Frozen, it uses the running statistics
/// (Keras's rule for fine-tuning).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BatchNorm2d(pub BatchNormParams);

impl BatchNorm2d {
    /// eps 1e-5, momentum 0.1 (PyTorch).
    pub fn new() -> BatchNorm2d {
        BatchNorm2d::default()
    }
    /// Training statistics over the global batch of a data-parallel step (PyTorch's
    /// `SyncBatchNorm`, Keras's `synchronized=True`): exchanged between the processes in the
    /// forward pass, and the matching sums in the backward. Alone, plain batch norm.
    pub fn synchronized(mut self, on: bool) -> Self {
        self.0.synchronized = on;
        self
    }
    /// Sets the value added to the variance before its square root (PyTorch's `eps`).
    pub fn eps(mut self, eps: f32) -> Self {
        self.0.eps = eps;
        self
    }
    /// Sets the weight of each new batch statistic in the running averages (PyTorch's
    /// `momentum`: `running = (1 − m)·running + m·batch`).
    pub fn momentum(mut self, m: f32) -> Self {
        self.0.momentum = m;
        self
    }
}

impl LayerImpl for BatchNorm2d {
    fn kind(&self) -> &'static str {
        "batch_normalization"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        match x[0].rank() {
            4 => Ok(x[0].clone()),
            _ => Err(wrong_input("BatchNorm2d", "rank 4 [n, c, h, w]", &x[0])),
        }
    }
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        let c = x[0].dims().get(1).copied().unwrap_or(0);
        vec![
            ParamSpec::weight("weight", [c], Init::Ones),
            ParamSpec::weight("bias", [c], Init::Zeros),
            ParamSpec::buffer("running_mean", [c], Init::Zeros),
            ParamSpec::buffer("running_var", [c], Init::Ones),
        ]
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, p, pass } = c;
        let (gb, running) = ([&p[0], &p[1]], [&p[2], &p[3]]);
        if pass.training && !pass.frozen {
            let [y, mean, var] = b.batch_norm_train(x[0], gb, running, &self.0)?;
            Ok((y, vec![x[0].clone(), mean, var]))
        } else {
            let y = b.batch_norm_eval(x[0], gb, running, self.0.eps)?;
            let saved = match pass.training {
                true => vec![x[0].clone(), p[2].clone(), p[3].clone()],
                false => vec![],
            };
            Ok((y, saved))
        }
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b,
            dy,
            saved,
            p,
            pass,
            need,
            ..
        } = c;
        let training = !pass.frozen;
        let stats = [&saved[1], &saved[2]];
        let [dx, dg, db] = match training && self.0.synchronized {
            true => b.batch_norm_backward_synced(dy, &saved[0], &p[0], stats, self.0.eps)?,
            false => b.batch_norm_backward(dy, &saved[0], &p[0], stats, self.0.eps, training)?,
        };
        let dp = if need.params { vec![dg, db] } else { vec![] };
        Ok((vec![need.inputs[0].then_some(dx)], dp))
    }
}

/// Batch normalisation over the channels of `[n, c]` or `[n, c, l]` (PyTorch's
/// `BatchNorm1d`: statistics over the batch and, for rank 3, the length axis), with
/// BatchNorm2d's parameters, names and frozen rule. It runs the 2-D kernels on a
/// `[n, c, l, 1]` view.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BatchNorm1d(pub BatchNormParams);

impl BatchNorm1d {
    /// eps 1e-5, momentum 0.1 (PyTorch).
    pub fn new() -> BatchNorm1d {
        BatchNorm1d::default()
    }
    /// Training statistics over the global batch of a data-parallel step (PyTorch's
    /// `SyncBatchNorm`, Keras's `synchronized=True`): exchanged between the processes in the
    /// forward pass, and the matching sums in the backward. Alone, plain batch norm.
    pub fn synchronized(mut self, on: bool) -> Self {
        self.0.synchronized = on;
        self
    }
    /// Sets the value added to the variance before its square root (PyTorch's `eps`).
    pub fn eps(mut self, eps: f32) -> Self {
        self.0.eps = eps;
        self
    }
    /// Sets the weight of each new batch statistic in the running averages.
    pub fn momentum(mut self, m: f32) -> Self {
        self.0.momentum = m;
        self
    }
    fn as_2d(&self) -> BatchNorm2d {
        BatchNorm2d(self.0)
    }
}

/// The `[n, c, l, 1]` view of a `[n, c]` or `[n, c, l]` shape.
fn view_4d(s: &Shape) -> Shape {
    let d = s.dims();
    Shape::new([d[0], d[1], d.get(2).copied().unwrap_or(1), 1])
}

impl LayerImpl for BatchNorm1d {
    fn kind(&self) -> &'static str {
        "batch_normalization"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        match x[0].rank() {
            2 | 3 => Ok(x[0].clone()),
            _ => Err(wrong_input(
                "BatchNorm1d",
                "rank 2 [n, c] or 3 [n, c, l]",
                &x[0],
            )),
        }
    }
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        self.as_2d().params(x)
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, p, pass } = c;
        let x4 = b.reshape(x[0], view_4d(x[0].shape()))?;
        let (y, saved) = self.as_2d().forward(Forward {
            b,
            x: &[&x4],
            p,
            pass,
        })?;
        Ok((b.reshape(&y, x[0].shape().clone())?, saved))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b,
            dy,
            x,
            saved,
            p,
            pass,
            need,
        } = c;
        let dy4 = b.reshape(dy, view_4d(dy.shape()))?;
        let x4 = [view_4d(&x[0])];
        let (dx, dp) = self.as_2d().backward(Backward {
            b,
            dy: &dy4,
            x: &x4,
            saved,
            p,
            pass,
            need,
        })?;
        let dx = dx
            .into_iter()
            .map(|d| d.map(|d| b.reshape(&d, x[0].clone())).transpose())
            .collect::<Result<_>>()?;
        Ok((dx, dp))
    }
}

/// Local response normalisation across channels (AlexNet).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Lrn(pub LrnParams);

impl LayerImpl for Lrn {
    fn kind(&self) -> &'static str {
        "lrn"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        match x[0].rank() {
            4 => Ok(x[0].clone()),
            _ => Err(wrong_input("Lrn", "rank 4 [n, c, h, w]", &x[0])),
        }
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        let y = b.lrn(x[0], &self.0)?;
        Ok((y, pass.keep(vec![x[0].clone()])))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { b, dy, saved, .. } = c;
        Ok((vec![Some(b.lrn_backward(dy, &saved[0], &self.0)?)], vec![]))
    }
}
