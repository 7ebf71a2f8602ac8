//! Transposed 2-D convolution (PyTorch's `conv_transpose2d`, weights IOHW
//! `[c_in, c_out/groups, kh, kw]`): the gradient of a conv2d with respect to its input. It runs on
//! the conv2d kernels: forward is conv2d's backward-data, its input gradient is conv2d's
//! forward, its weight gradient is conv2d's backward-filter with the roles of input and output
//! swapped.

use super::{
    conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter, Conv2dParams,
};
use crate::error::{Error, Result};
use crate::ops::elementwise;
use crate::shape::{Padding, Shape, HW};
use crate::tensor::Tensor;

const OP: &str = "conv_transpose2d";

/// Options of a transposed convolution (symmetric padding, as PyTorch).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ConvTranspose2dParams {
    /// Kernel height and width `kh × kw`; must match the weight's last two dimensions.
    pub kernel: HW<usize>,
    /// Stride of the conv2d this is the gradient of: the output is about `stride` times larger.
    pub stride: HW<usize>,
    /// Padding of that conv2d, per side (PyTorch's `padding`): rows and columns cut from each
    /// border of the full output.
    pub padding: HW<usize>,
    /// Extra rows/columns on the bottom/right of the output; must be below the stride.
    pub output_padding: HW<usize>,
    /// Spacing between kernel taps, per axis (1 = dense).
    pub dilation: HW<usize>,
    /// Channel groups, as in [`Conv2dParams`]; must divide `c_in`.
    pub groups: usize,
}

impl ConvTranspose2dParams {
    /// A `kernel` transposed convolution with stride 1, no padding, no output padding, no
    /// dilation, one group.
    pub fn new(kernel: impl Into<HW<usize>>) -> Self {
        ConvTranspose2dParams {
            kernel: kernel.into(),
            stride: HW::square(1),
            padding: HW::square(0),
            output_padding: HW::square(0),
            dilation: HW::square(1),
            groups: 1,
        }
    }

    /// The conv2d whose input gradient this is. Its top/left padding fixes the grid; the
    /// bottom/right padding only has to make that conv's output as large as this op's input,
    /// which takes a smaller pad when the output padding reaches the stride (allowed while it is
    /// below the dilation).
    pub fn as_conv(&self) -> Conv2dParams {
        let far = |p: usize, op: usize, s: usize| if op < s { p } else { p.saturating_sub(op) };
        Conv2dParams {
            kernel: self.kernel,
            stride: self.stride,
            padding: Padding::Explicit {
                top: self.padding.h,
                bottom: far(self.padding.h, self.output_padding.h, self.stride.h),
                left: self.padding.w,
                right: far(self.padding.w, self.output_padding.w, self.stride.w),
            },
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// Output shape `[n, c_out, (h−1)·s − 2p + d·(k−1) + op + 1, …]` for input x and weight w (IOHW).
    pub fn output_shape(&self, x: &Shape, w: &Shape) -> Result<Shape> {
        let (&[n, c_in, h, wd], &[wc_in, c_out_g, kh, kw]) = (x.dims(), w.dims()) else {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "x [n, c_in, h, w] and w [c_in, c_out/groups, kh, kw]",
                expected: "rank 4 each".into(),
                got: format!("{x} and {w}"),
            });
        };
        if wc_in != c_in || (kh, kw) != (self.kernel.h, self.kernel.w) {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "weight w",
                expected: format!(
                    "[{c_in}, c_out/groups, {}, {}]",
                    self.kernel.h, self.kernel.w
                ),
                got: w.to_string(),
            });
        }
        for (name, v) in [
            ("kernel", self.kernel.h.min(self.kernel.w)),
            ("stride", self.stride.h.min(self.stride.w)),
            ("dilation", self.dilation.h.min(self.dilation.w)),
            ("groups", self.groups),
            ("input size", n.min(c_in).min(h).min(wd)),
            ("output channels per group", c_out_g),
        ] {
            if v == 0 {
                return Err(Error::invalid(OP, name, v, "must be at least 1"));
            }
        }
        let largest = [self.stride, self.dilation, self.padding, self.kernel]
            .iter()
            .map(|p| p.h.max(p.w))
            .max()
            .unwrap_or(0);
        if largest > super::WINDOW_LIMIT {
            return Err(Error::invalid(
                OP,
                "kernel, stride, dilation or padding",
                largest,
                format!("must be at most {}", super::WINDOW_LIMIT),
            ));
        }
        if c_in % self.groups != 0 {
            return Err(Error::invalid(
                OP,
                "groups",
                self.groups,
                format!("must divide the input channels ({c_in})"),
            ));
        }
        // PyTorch's rule: output padding below the stride or below the dilation.
        let op = self.output_padding;
        if op.h >= self.stride.h.max(self.dilation.h) || op.w >= self.stride.w.max(self.dilation.w)
        {
            let why = format!(
                "must be below the stride {} or the dilation {}",
                self.stride, self.dilation
            );
            return Err(Error::invalid(OP, "output_padding", op, why));
        }
        let axis = |size: usize, s: usize, p: usize, d: usize, k: usize, op: usize| {
            ((size - 1) * s + d * (k - 1) + op + 1)
                .checked_sub(2 * p)
                .filter(|&v| v > 0)
        };
        let out_h = axis(
            h,
            self.stride.h,
            self.padding.h,
            self.dilation.h,
            kh,
            self.output_padding.h,
        );
        let out_w = axis(
            wd,
            self.stride.w,
            self.padding.w,
            self.dilation.w,
            kw,
            self.output_padding.w,
        );
        let y = match (out_h, out_w, h * wd * n > 0) {
            (Some(oh), Some(ow), true) => Shape::new([n, c_out_g * self.groups, oh, ow]),
            _ => {
                return Err(Error::invalid(
                    OP,
                    "padding",
                    self.padding,
                    "leaves no output",
                ))
            }
        };
        // The conv this op is the gradient of must map y back onto x's grid.
        let conv_w = Shape::new([c_in, c_out_g, kh, kw]);
        match self.as_conv().resolve(&y, &conv_w) {
            Ok(g) if (g.h_out, g.w_out) == (h, wd) => Ok(y),
            _ => Err(Error::invalid(
                OP,
                "output_padding",
                self.output_padding,
                format!(
                    "with padding {} it needs a crop past the padding, which is not supported",
                    self.padding
                ),
            )),
        }
    }
}

/// `y = conv_transpose2d(x, w) + b`.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: &ConvTranspose2dParams,
) -> Result<Tensor> {
    let y_shape = p.output_shape(x.shape(), w.shape())?;
    let y = conv2d_backward_data(x, w, &y_shape, &p.as_conv())?;
    match b {
        Some(b) => elementwise::bias_add(&y, b),
        None => Ok(y),
    }
}

/// Gradient with respect to the input: the conv2d forward of `dy`.
pub fn conv_transpose2d_backward_data(
    dy: &Tensor,
    w: &Tensor,
    x_shape: &Shape,
    p: &ConvTranspose2dParams,
) -> Result<Tensor> {
    check_dy(dy, x_shape, w.shape(), p)?;
    conv2d(dy, w, None, &p.as_conv())
}

/// Gradient with respect to the weight (IOHW).
pub fn conv_transpose2d_backward_filter(
    x: &Tensor,
    dy: &Tensor,
    p: &ConvTranspose2dParams,
) -> Result<Tensor> {
    let c_out = dy.dims().get(1).copied().unwrap_or(0);
    let w_shape = Shape::new([
        x.dims().get(1).copied().unwrap_or(0),
        c_out / p.groups.max(1),
        p.kernel.h,
        p.kernel.w,
    ]);
    check_dy(dy, x.shape(), &w_shape, p)?;
    conv2d_backward_filter(dy, x, &p.as_conv())
}

/// Gradient with respect to the bias.
pub fn conv_transpose2d_backward_bias(dy: &Tensor) -> Result<Tensor> {
    conv2d_backward_bias(dy)
}

fn check_dy(dy: &Tensor, x: &Shape, w: &Shape, p: &ConvTranspose2dParams) -> Result<()> {
    let y = p.output_shape(x, w)?;
    if dy.shape() != &y {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "dy",
            expected: y.to_string(),
            got: dy.shape().to_string(),
        });
    }
    Ok(())
}
