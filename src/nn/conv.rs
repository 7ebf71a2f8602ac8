//! Conv2d and Dense: weights, optional bias, optional activation after the affine map.

use super::{wrong_input, Backend, Backward, Forward, Grads, Init, LayerImpl, ParamSpec, Pass};
use crate::error::{Error, Result};
use crate::ops::conv2d::Conv2dParams;
use crate::ops::elementwise::Activation;
use crate::shape::{Padding, Shape, HW};

/// 2-D convolution over NCHW with `filters` output channels (Keras's options and names).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// Output channels `c_out` (at least 1).
    pub filters: usize,
    /// Kernel size, stride, padding, dilation and groups of the convolution.
    pub params: Conv2dParams,
    /// Whether the layer has a `bias` of `filters` elements added per output channel.
    pub use_bias: bool,
    /// Applied to `conv2d(x, w) + b`; fused into the conv's kernel where its derivative
    /// follows from the output ([`Activation::grad_from_output`]).
    pub activation: Option<Activation>,
    /// Initialiser of the `weight` `[filters, c_in / groups, kh, kw]`.
    pub kernel_initializer: Init,
    /// Initialiser of the `bias`.
    pub bias_initializer: Init,
}

impl Conv2d {
    /// `filters` output channels, a `kernel_size` window, stride 1, valid padding, bias on,
    /// no activation, Glorot-uniform kernel (the Keras defaults).
    pub fn new(filters: usize, kernel_size: impl Into<HW<usize>>) -> Conv2d {
        Conv2d {
            filters,
            params: Conv2dParams::new(kernel_size),
            use_bias: true,
            activation: None,
            kernel_initializer: Init::GlorotUniform,
            bias_initializer: Init::Zeros,
        }
    }
    /// Sets the stride between neighbouring windows.
    pub fn strides(mut self, s: impl Into<HW<usize>>) -> Self {
        self.params = self.params.stride(s);
        self
    }
    /// Sets the border treatment ([`Padding::Same`] is Keras's `"same"`).
    pub fn padding(mut self, p: Padding) -> Self {
        self.params = self.params.padding(p);
        self
    }
    /// Sets the spacing between kernel taps (1 = dense).
    pub fn dilation_rate(mut self, d: impl Into<HW<usize>>) -> Self {
        self.params = self.params.dilation(d);
        self
    }
    /// Sets the channel groups (PyTorch's `groups`; must divide the input channels and
    /// `filters`).
    pub fn groups(mut self, g: usize) -> Self {
        self.params = self.params.groups(g);
        self
    }
    /// Turns the bias on or off.
    pub fn use_bias(mut self, on: bool) -> Self {
        self.use_bias = on;
        self
    }
    /// Applies `f` after the convolution.
    pub fn activation(mut self, f: Activation) -> Self {
        self.activation = Some(f);
        self
    }
    /// Sets the initialiser of the weight.
    pub fn kernel_initializer(mut self, i: Init) -> Self {
        self.kernel_initializer = i;
        self
    }
}

/// `weight` and, with `bias`, a `bias` of that many elements.
fn weight_bias(w: Shape, bias: Option<usize>, init: (Init, Init)) -> Vec<ParamSpec> {
    let mut p = vec![ParamSpec::weight("weight", w, init.0)];
    p.extend(bias.map(|n| ParamSpec::weight("bias", [n], init.1)));
    p
}

/// The affine output `z` of input `x` through the optional activation: (y, saved) where
/// training saves `[x, z]` (or `[x]` without an activation).
fn finish<B: Backend>(
    b: &B,
    x: &B::T,
    z: B::T,
    f: Option<Activation>,
    pass: Pass,
) -> Result<(B::T, Vec<B::T>)> {
    let mut saved = vec![x.clone()];
    let y = activate(b, z, f, &mut saved)?;
    Ok((y, pass.keep(saved)))
}

/// Applies the optional activation; saves its input `z` for backward.
fn activate<B: Backend>(
    b: &B,
    z: B::T,
    f: Option<Activation>,
    saved: &mut Vec<B::T>,
) -> Result<B::T> {
    match f {
        None => Ok(z),
        Some(f) => {
            let y = b.activation(&z, f)?;
            saved.push(z);
            Ok(y)
        }
    }
}

/// d loss / d z from d loss / d y through the optional activation (`saved[1]` is z).
fn deactivate<B: Backend>(b: &B, dy: &B::T, f: Option<Activation>, saved: &[B::T]) -> Result<B::T> {
    match f {
        None => Ok(dy.clone()),
        Some(f) => b.activation_backward(dy, &saved[1], f),
    }
}

impl LayerImpl for Conv2d {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        if self.filters == 0 {
            return Err(Error::invalid("Conv2d", "filters", 0, "must be at least 1"));
        }
        self.params
            .resolve(&x[0], &self.w_shape(&x[0])?)
            .map(|g| g.y_shape())
    }
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        let Ok(w) = self.w_shape(&x[0]) else {
            return Vec::new();
        };
        let bias = self.use_bias.then_some(self.filters);
        weight_bias(w, bias, (self.kernel_initializer, self.bias_initializer))
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, p, pass } = c;
        match self.activation.filter(|f| f.grad_from_output()) {
            // One kernel; backward takes f' from the output.
            Some(f) => {
                let y = b.conv2d_activated(x[0], &p[0], p.get(1), &self.params, f)?;
                let saved = match pass.training {
                    true => vec![x[0].clone(), y.clone()],
                    false => vec![],
                };
                Ok((y, saved))
            }
            None => {
                let z = b.conv2d(x[0], &p[0], p.get(1), &self.params)?;
                finish(b, x[0], z, self.activation, pass)
            }
        }
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b,
            dy,
            x,
            saved,
            p,
            need,
            ..
        } = c;
        let dz = match self.activation.filter(|f| f.grad_from_output()) {
            Some(f) => b.activation_backward_from_output(dy, &saved[1], f)?,
            None => deactivate(b, dy, self.activation, saved)?,
        };
        let dx = match need.inputs[0] {
            true => Some(b.conv2d_backward_data(&dz, &p[0], &x[0], &self.params)?),
            false => None,
        };
        let mut dp = Vec::new();
        if need.params {
            dp.push(b.conv2d_backward_filter(&saved[0], &dz, &self.params)?);
            if self.use_bias {
                dp.push(b.conv2d_backward_bias(&dz)?);
            }
        }
        Ok((vec![dx], dp))
    }
}

impl Conv2d {
    fn w_shape(&self, x: &Shape) -> Result<Shape> {
        let &[_, c, _, _] = x.dims() else {
            return Err(wrong_input("Conv2d", "rank 4 [n, c, h, w]", x));
        };
        Ok(self.params.weight_shape(c, self.filters))
    }
}

/// A fully connected layer over `[n, features]` with `units` outputs; weight `[units, features]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Output features (at least 1).
    pub units: usize,
    /// Whether the layer has a `bias` of `units` elements.
    pub use_bias: bool,
    /// Applied to `x·wᵀ + b`.
    pub activation: Option<Activation>,
    /// Initialiser of the `weight` `[units, features]`.
    pub kernel_initializer: Init,
    /// Initialiser of the `bias`.
    pub bias_initializer: Init,
}

impl Dense {
    /// `units` outputs, bias on, no activation, Glorot-uniform kernel and zero bias (the
    /// Keras defaults).
    pub fn new(units: usize) -> Dense {
        Dense {
            units,
            use_bias: true,
            activation: None,
            kernel_initializer: Init::GlorotUniform,
            bias_initializer: Init::Zeros,
        }
    }
    /// Turns the bias on or off.
    pub fn use_bias(mut self, on: bool) -> Self {
        self.use_bias = on;
        self
    }
    /// Applies `f` after the affine map.
    pub fn activation(mut self, f: Activation) -> Self {
        self.activation = Some(f);
        self
    }
    /// Sets the initialiser of the weight.
    pub fn kernel_initializer(mut self, i: Init) -> Self {
        self.kernel_initializer = i;
        self
    }
}

impl LayerImpl for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        if self.units == 0 {
            return Err(Error::invalid("Dense", "units", 0, "must be at least 1"));
        }
        match *x[0].dims() {
            [n, f] if f > 0 => Ok(Shape::new([n, self.units])),
            _ => Err(wrong_input(
                "Dense",
                "rank 2 [n, features] (add a Flatten before it)",
                &x[0],
            )),
        }
    }
    fn params(&self, x: &[Shape]) -> Vec<ParamSpec> {
        let f = x[0].dims().get(1).copied().unwrap_or(0);
        let bias = self.use_bias.then_some(self.units);
        let init = (self.kernel_initializer, self.bias_initializer);
        weight_bias(Shape::new([self.units, f]), bias, init)
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, p, pass } = c;
        let z = b.dense(x[0], &p[0], p.get(1))?;
        finish(b, x[0], z, self.activation, pass)
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b,
            dy,
            saved,
            p,
            need,
            ..
        } = c;
        let dz = deactivate(b, dy, self.activation, saved)?;
        let dx = match need.inputs[0] {
            true => Some(b.dense_backward_data(&dz, &p[0])?),
            false => None,
        };
        let mut dp = Vec::new();
        if need.params {
            dp.push(b.dense_backward_filter(&saved[0], &dz)?);
            if self.use_bias {
                dp.push(b.dense_backward_bias(&dz)?);
            }
        }
        Ok((vec![dx], dp))
    }
}
