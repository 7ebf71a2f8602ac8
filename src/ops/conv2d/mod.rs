//! 2-D convolution (cross-correlation, as in PyTorch and Keras): parameters, the resolved
//! geometry every pass reads, and the eager GPU API.
//!
//! Layouts: x `[n, c_in, h_in, w_in]`, w `[c_out, c_in/groups, kh, kw]` (OIHW), bias `[c_out]`,
//! y `[n, c_out, h_out, w_out]`.

pub mod backend;
pub mod cpu;
pub mod gpu;
pub mod kernel;
pub mod shaders;
pub mod transpose;
pub mod tune;
pub mod winograd;

use std::fmt;

pub use kernel::{
    choose_backward_data, choose_backward_filter, choose_direct, choose_forward, Conv2dKernel,
    RegisterTile,
};
pub use tune::{ConvPass, ConvTuning};

use crate::error::{Error, Result};
use crate::ops::elementwise::Activation;
pub use crate::shape::WINDOW_LIMIT;
use crate::shape::{resolve_window, window_out, Padding, Shape, HW};
use crate::tensor::Tensor;

const OP: &str = "conv2d";

/// Options of a 2-D convolution.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Conv2dParams {
    /// Kernel height and width `kh × kw`; must match the weight's last two dimensions.
    pub kernel: HW<usize>,
    /// Step between neighbouring windows, per axis (at least 1).
    pub stride: HW<usize>,
    /// Border treatment; [`Padding::Same`] is TensorFlow/Keras's "same".
    pub padding: Padding,
    /// Spacing between kernel taps, per axis (1 = dense); the window spans
    /// `dilation·(kernel − 1) + 1` pixels.
    pub dilation: HW<usize>,
    /// Channel groups: input and output channels are split into `groups` blocks, output block
    /// `g` reading input block `g` only (PyTorch's `groups`). Must divide `c_in` and `c_out`.
    pub groups: usize,
}

impl Conv2dParams {
    /// A `kernel` convolution with stride 1, valid padding, no dilation, one group.
    pub fn new(kernel: impl Into<HW<usize>>) -> Conv2dParams {
        Conv2dParams {
            kernel: kernel.into(),
            stride: HW::square(1),
            padding: Padding::Valid,
            dilation: HW::square(1),
            groups: 1,
        }
    }
    /// Sets the stride.
    pub fn stride(mut self, s: impl Into<HW<usize>>) -> Self {
        self.stride = s.into();
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, p: Padding) -> Self {
        self.padding = p;
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, d: impl Into<HW<usize>>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets the number of channel groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }

    /// The weight shape `[c_out, c_in/groups, kh, kw]` (OIHW) of these parameters between
    /// `c_in` and `c_out` channels (`resolve` checks that groups divide them).
    pub fn weight_shape(&self, c_in: usize, c_out: usize) -> Shape {
        Shape::new([
            c_out,
            c_in / self.groups.max(1),
            self.kernel.h,
            self.kernel.w,
        ])
    }

    /// Output shape for an input of shape `x` and `c_out` filters, without touching a device.
    pub fn output_shape(&self, x: &Shape, c_out: usize) -> Result<Shape> {
        let c_in = x.dims().get(1).copied().unwrap_or(0);
        let g = self.resolve(x, &self.weight_shape(c_in, c_out))?;
        Ok(g.y_shape())
    }

    /// Validates the parameters against the input and weight shapes and computes every number
    /// the passes need.
    pub fn resolve(&self, x: &Shape, w: &Shape) -> Result<Conv2dGeometry> {
        if self.groups == 0 {
            return Err(Error::invalid(OP, "groups", 0, "must be at least 1"));
        }
        let &[n, c_in, h_in, w_in] = x.dims() else {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "input x",
                expected: "rank 4 [n, c_in, h, w]".into(),
                got: x.to_string(),
            });
        };
        if n == 0 || c_in == 0 || h_in == 0 || w_in == 0 {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "input x",
                expected: "no zero dimension".into(),
                got: x.to_string(),
            });
        }
        let groups = self.groups;
        if c_in % groups != 0 {
            return Err(Error::invalid(
                OP,
                "groups",
                groups,
                format!("must divide the input channels ({c_in})"),
            ));
        }
        let &[c_out, cg, kh, kw] = w.dims() else {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "weight w",
                expected: "rank 4 [c_out, c_in/groups, kh, kw]".into(),
                got: w.to_string(),
            });
        };
        let expect_w = format!(
            "[c_out, {}, {}, {}] with c_out a positive multiple of groups={groups}",
            c_in / groups,
            self.kernel.h,
            self.kernel.w
        );
        if c_out == 0
            || c_out % groups != 0
            || cg != c_in / groups
            || (kh, kw) != (self.kernel.h, self.kernel.w)
        {
            return Err(Error::ShapeMismatch {
                op: OP,
                what: "weight w",
                expected: expect_w,
                got: w.to_string(),
            });
        }
        let win = resolve_window(
            OP,
            HW::new(h_in, w_in),
            self.kernel,
            self.stride,
            self.dilation,
            self.padding,
        )?;
        let (ext_h, ext_w) = (win.ext.h, win.ext.w);
        let (pad_top, pad_bottom, pad_left, pad_right) = (win.top, win.bottom, win.left, win.right);
        let h_out = window_out(h_in, pad_top + pad_bottom, ext_h, self.stride.h);
        let w_out = window_out(w_in, pad_left + pad_right, ext_w, self.stride.w);
        let (Some(h_out), Some(w_out)) = (h_out, w_out) else {
            return Err(Error::invalid(
                OP,
                "kernel",
                format!("{} (dilated extent {ext_h}×{ext_w})", self.kernel),
                format!(
                    "the window does not fit the padded input {}×{}",
                    h_in + pad_top + pad_bottom,
                    w_in + pad_left + pad_right
                ),
            ));
        };
        let g = Conv2dGeometry {
            n,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out,
            w_out,
            kh,
            kw,
            stride: self.stride,
            dilation: self.dilation,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
            groups,
        };
        g.check_u32()?;
        Ok(g)
    }
}

/// Every number of one convolution, resolved once from the parameters and shapes. The CPU
/// reference, the GPU uniforms and the FLOP count all read from here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Conv2dGeometry {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels (filters).
    pub c_out: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Step between neighbouring windows, per axis.
    pub stride: HW<usize>,
    /// Spacing between kernel taps, per axis.
    pub dilation: HW<usize>,
    /// Zero rows above the input, resolved from the [`Padding`].
    pub pad_top: usize,
    /// Zero rows below the input.
    pub pad_bottom: usize,
    /// Zero columns left of the input.
    pub pad_left: usize,
    /// Zero columns right of the input.
    pub pad_right: usize,
    /// Channel groups (see [`Conv2dParams`]'s `groups`).
    pub groups: usize,
}

impl Conv2dGeometry {
    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c_in / self.groups
    }
    /// Output channels per group.
    pub fn cog(&self) -> usize {
        self.c_out / self.groups
    }
    /// Length of each output's dot product: `c_in/groups · kh · kw`.
    pub fn reduction_len(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Input shape `[n, c_in, h_in, w_in]`.
    pub fn x_shape(&self) -> Shape {
        Shape::new([self.n, self.c_in, self.h_in, self.w_in])
    }
    /// Weight shape `[c_out, c_in/groups, kh, kw]` (OIHW).
    pub fn w_shape(&self) -> Shape {
        Shape::new([self.c_out, self.cg(), self.kh, self.kw])
    }
    /// Output shape `[n, c_out, h_out, w_out]`.
    pub fn y_shape(&self) -> Shape {
        Shape::new([self.n, self.c_out, self.h_out, self.w_out])
    }
    /// Forward FLOPs (a multiply-add counts two). Backward (dX + dW) is twice this.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.h_out * self.w_out) as f64 * self.reduction_len() as f64
    }
    /// Depthwise: one input channel per group (channel multiplier `c_out / c_in`).
    pub fn is_depthwise(&self) -> bool {
        self.groups == self.c_in && self.groups > 1
    }
    /// 1×1, stride 1, no padding: the convolution is a plain matrix product per image.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == HW::square(1)
            && self.pad_top + self.pad_bottom + self.pad_left + self.pad_right == 0
    }

    /// Checks a geometry built or edited by hand (its fields are public) by resolving it again
    /// from its own parameters and shapes.
    pub fn validate(&self) -> Result<()> {
        let p = Conv2dParams {
            kernel: HW::new(self.kh, self.kw),
            stride: self.stride,
            padding: Padding::Explicit {
                top: self.pad_top,
                bottom: self.pad_bottom,
                left: self.pad_left,
                right: self.pad_right,
            },
            dilation: self.dilation,
            groups: self.groups,
        };
        // `cg()` divides by groups: check the shapes only through `resolve`.
        let w = Shape::new([self.c_out, self.c_in / self.groups.max(1), self.kh, self.kw]);
        if p.resolve(&self.x_shape(), &w)? != *self {
            return Err(Error::invalid(
                OP,
                "geometry",
                self,
                "is not what its parameters resolve to",
            ));
        }
        Ok(())
    }

    /// Shaders index with u32: refuse anything that would overflow it.
    fn check_u32(&self) -> Result<()> {
        for (what, s) in [
            ("input", self.x_shape()),
            ("weight", self.w_shape()),
            ("output", self.y_shape()),
        ] {
            let numel = s.checked_numel().unwrap_or(usize::MAX) as u64;
            if numel > u64::from(u32::MAX) {
                return Err(Error::TooLarge {
                    what: format!("conv2d {what} {s}"),
                    bytes: numel.saturating_mul(4),
                    limit: u64::from(u32::MAX),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Conv2dGeometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "x=[{},{},{},{}] w=[{},{},{},{}] stride={} dil={} pad=[{},{},{},{}] groups={} -> [{},{}]",
            self.n,
            self.c_in,
            self.h_in,
            self.w_in,
            self.c_out,
            self.cg(),
            self.kh,
            self.kw,
            self.stride,
            self.dilation,
            self.pad_top,
            self.pad_bottom,
            self.pad_left,
            self.pad_right,
            self.groups,
            self.h_out,
            self.w_out
        )
    }
}

fn check_shape(what: &'static str, t: &Tensor, expected: &Shape) -> Result<()> {
    if t.shape() != expected {
        return Err(Error::ShapeMismatch {
            op: OP,
            what,
            expected: expected.to_string(),
            got: t.shape().to_string(),
        });
    }
    Ok(())
}

/// `y = conv2d(x, w) + b`, recorded into the GPU's pending encoder.
pub fn conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, p: &Conv2dParams) -> Result<Tensor> {
    let g = p.resolve(x.shape(), w.shape())?;
    conv2d_with(x, w, b, &g, x.gpu().conv2d_kernel(&g, ConvPass::Forward))
}

/// `y = f(conv2d(x, w) + b)` in one kernel: the activation runs in the conv's epilogue.
pub fn conv2d_activated(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: &Conv2dParams,
    f: Activation,
) -> Result<Tensor> {
    let g = p.resolve(x.shape(), w.shape())?;
    let k = x.gpu().conv2d_kernel(&g, ConvPass::Forward);
    conv2d_fused_with(x, w, b, &g, k, Some(f))
}

/// Forward with a chosen kernel (tests and benches force each variant).
pub fn conv2d_with(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    conv2d_fused_with(x, w, b, g, kernel, None)
}

/// Forward with a chosen kernel and an optional fused activation.
pub fn conv2d_fused_with(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
    act: Option<Activation>,
) -> Result<Tensor> {
    g.validate()?;
    crate::ops::same_device(OP, &[x, w])?;
    check_shape("input x", x, &g.x_shape())?;
    check_shape("weight w", w, &g.w_shape())?;
    if let Some(b) = b {
        crate::ops::same_device(OP, &[x, b])?;
        check_shape("bias b", b, &Shape::new([g.c_out]))?;
    }
    gpu::forward(x, w, b, g, kernel, act)
}

/// Gradient with respect to the input: `dx = conv2d_backward_data(dy, w)`, shaped like `x`.
pub fn conv2d_backward_data(
    dy: &Tensor,
    w: &Tensor,
    x_shape: &Shape,
    p: &Conv2dParams,
) -> Result<Tensor> {
    let g = p.resolve(x_shape, w.shape())?;
    conv2d_backward_data_with(
        dy,
        w,
        &g,
        dy.gpu().conv2d_kernel(&g, ConvPass::BackwardData),
    )
}

/// Input gradient with a chosen kernel (tests and benches force each variant).
pub fn conv2d_backward_data_with(
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    g.validate()?;
    crate::ops::same_device(OP, &[dy, w])?;
    check_shape("weight w", w, &g.w_shape())?;
    check_shape("output gradient dy", dy, &g.y_shape())?;
    gpu::backward_data(dy, w, g, kernel)
}

/// Gradient with respect to the weights, shaped `[c_out, c_in/groups, kh, kw]`.
pub fn conv2d_backward_filter(x: &Tensor, dy: &Tensor, p: &Conv2dParams) -> Result<Tensor> {
    let c_out = dy.dims().get(1).copied().unwrap_or(0);
    let c_in = x.dims().get(1).copied().unwrap_or(0);
    let g = p.resolve(x.shape(), &p.weight_shape(c_in, c_out))?;
    conv2d_backward_filter_with(
        x,
        dy,
        &g,
        dy.gpu().conv2d_kernel(&g, ConvPass::BackwardFilter),
    )
}

/// Weight gradient with a chosen kernel (tests and benches force each variant).
pub fn conv2d_backward_filter_with(
    x: &Tensor,
    dy: &Tensor,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    g.validate()?;
    crate::ops::same_device(OP, &[x, dy])?;
    check_shape("input x", x, &g.x_shape())?;
    check_shape("output gradient dy", dy, &g.y_shape())?;
    gpu::backward_filter(x, dy, g, kernel)
}

/// Gradient with respect to the bias: `db[c] = Σ_{n,h,w} dy[n,c,h,w]`.
pub fn conv2d_backward_bias(dy: &Tensor) -> Result<Tensor> {
    if dy.shape().rank() != 4 {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "output gradient dy",
            expected: "rank 4 [n, c_out, h_out, w_out]".into(),
            got: dy.shape().to_string(),
        });
    }
    gpu::backward_bias(dy)
}
