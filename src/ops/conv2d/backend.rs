//! The convolution family of [`Backend`](crate::ops::backend::Backend).

use super::Conv2dParams;
use crate::error::Result;
use crate::ops::backend::ElementwiseBackend;
use crate::ops::elementwise::Activation;
use crate::shape::Shape;

/// 2-D convolution, forward and backward: x `[n, c_in, h, w]`, w `[c_out, c_in/groups, kh, kw]`.
pub trait ConvBackend: ElementwiseBackend {
    /// `conv2d(x, w) + b`, b `[c_out]`.
    fn conv2d(
        &self,
        x: &Self::T,
        w: &Self::T,
        b: Option<&Self::T>,
        p: &Conv2dParams,
    ) -> Result<Self::T>;
    /// `f(conv2d(x, w) + b)`; a backend may fuse the activation into the conv's epilogue.
    fn conv2d_activated(
        &self,
        x: &Self::T,
        w: &Self::T,
        b: Option<&Self::T>,
        p: &Conv2dParams,
        f: Activation,
    ) -> Result<Self::T> {
        let z = self.conv2d(x, w, b, p)?;
        self.activation(&z, f)
    }
    /// Gradient of the conv with respect to its input, shaped `x`.
    fn conv2d_backward_data(
        &self,
        dy: &Self::T,
        w: &Self::T,
        x: &Shape,
        p: &Conv2dParams,
    ) -> Result<Self::T>;
    /// Gradient of the conv with respect to its weights, `[c_out, c_in/groups, kh, kw]`.
    fn conv2d_backward_filter(
        &self,
        x: &Self::T,
        dy: &Self::T,
        p: &Conv2dParams,
    ) -> Result<Self::T>;
    /// Gradient of the conv's bias: `dy` `[n, c_out, h, w]` summed over every axis but 1.
    fn conv2d_backward_bias(&self, dy: &Self::T) -> Result<Self::T>;
}
