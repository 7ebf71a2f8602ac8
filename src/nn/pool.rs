//! Pooling layers: max, average, global average (to `[n, c]`, as Keras) and channel-wise max.

use super::{wrong_input, Backend, BackendTensor, Backward, Forward, Grads, LayerImpl, Pass};
use crate::error::{Error, Result};
use crate::ops::pool::Pool2dParams;
use crate::shape::{Padding, Shape, HW};

macro_rules! pool_layer {
    ($name:ident, $ctor:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name(pub Pool2dParams);

        impl $name {
            /// A `pool_size` window with stride equal to the window (the Keras default).
            pub fn new(pool_size: impl Into<HW<usize>>) -> $name {
                $name(Pool2dParams::$ctor(pool_size))
            }
            /// Sets the stride between neighbouring windows (default: the window size).
            pub fn strides(mut self, s: impl Into<HW<usize>>) -> Self {
                self.0 = self.0.stride(s);
                self
            }
            /// Sets the border treatment ([`Padding::Same`] is Keras's `"same"`).
            pub fn padding(mut self, p: Padding) -> Self {
                self.0 = self.0.padding(p);
                self
            }
        }

        impl LayerImpl for $name {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
                self.0.resolve(&x[0]).map(|g| g.y_shape())
            }
            fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
                let Forward { b, x, pass, .. } = c;
                self.run(b, x[0], pass)
            }
            fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
                let Backward {
                    b, dy, x, saved, ..
                } = c;
                Ok((vec![Some(self.grad(b, dy, &x[0], saved)?)], vec![]))
            }
        }
    };
}

pool_layer!(
    MaxPool2d,
    max,
    "max_pooling2d",
    "Max pooling (arg-max kept for backward)."
);
pool_layer!(AvgPool2d, avg, "average_pooling2d", "Average pooling.");

impl MaxPool2d {
    fn run<B: Backend>(&self, b: &B, x: &B::T, pass: Pass) -> Result<(B::T, Vec<B::T>)> {
        let (y, idx) = b.max_pool(x, &self.0, pass.training)?;
        Ok((y, idx.into_iter().collect()))
    }
    fn grad<B: Backend>(&self, b: &B, dy: &B::T, x: &Shape, saved: &[B::T]) -> Result<B::T> {
        b.max_pool_backward(dy, &saved[0], x, &self.0)
    }
}

impl AvgPool2d {
    fn run<B: Backend>(&self, b: &B, x: &B::T, _: Pass) -> Result<(B::T, Vec<B::T>)> {
        Ok((b.avg_pool(x, &self.0)?, vec![]))
    }
    fn grad<B: Backend>(&self, b: &B, dy: &B::T, x: &Shape, _: &[B::T]) -> Result<B::T> {
        b.avg_pool_backward(dy, x, &self.0)
    }
}

/// Mean over each channel's plane: `[n, c, h, w]` → `[n, c]`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GlobalAvgPool2d;

impl LayerImpl for GlobalAvgPool2d {
    fn kind(&self) -> &'static str {
        "global_average_pooling2d"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        match *x[0].dims() {
            [n, c, h, w] if h * w > 0 => Ok(Shape::new([n, c])),
            _ => Err(wrong_input("GlobalAvgPool2d", "rank 4 [n, c, h, w]", &x[0])),
        }
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, .. } = c;
        let y = b.global_avg_pool(x[0])?;
        let s = self.output_shape(&[x[0].shape().clone()])?;
        Ok((b.reshape(&y, s)?, vec![]))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward { b, dy, x, .. } = c;
        let d = x[0].dims();
        let dy4 = b.reshape(dy, Shape::new([d[0], d[1], 1, 1]))?;
        Ok((vec![Some(b.global_avg_pool_backward(&dy4, &x[0])?)], vec![]))
    }
}

/// Maximum over groups of `k` neighbouring channels (maxout): `[n, c, h, w]` → `[n, c/k, h, w]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelMaxPool(pub usize);

impl LayerImpl for ChannelMaxPool {
    fn kind(&self) -> &'static str {
        "channel_max_pooling"
    }
    fn output_shape(&self, x: &[Shape]) -> Result<Shape> {
        let &[n, c, h, w] = x[0].dims() else {
            return Err(wrong_input("ChannelMaxPool", "rank 4 [n, c, h, w]", &x[0]));
        };
        if self.0 == 0 || c % self.0 != 0 {
            return Err(Error::invalid(
                "ChannelMaxPool",
                "k",
                self.0,
                "must divide the channels",
            ));
        }
        Ok(Shape::new([n, c / self.0, h, w]))
    }
    fn forward<B: Backend>(&self, c: Forward<'_, B>) -> Result<(B::T, Vec<B::T>)> {
        let Forward { b, x, pass, .. } = c;
        let (y, idx) = b.channel_max_pool(x[0], self.0)?;
        Ok((y, pass.keep(vec![idx])))
    }
    fn backward<B: Backend>(&self, c: Backward<'_, B>) -> Result<Grads<B::T>> {
        let Backward {
            b, dy, x, saved, ..
        } = c;
        Ok((
            vec![Some(
                b.channel_max_pool_backward(dy, &saved[0], &x[0], self.0)?,
            )],
            vec![],
        ))
    }
}
