//! 2-D pooling: max (with arg-max indices) and average windows, adaptive/global average, and
//! channel-wise max over groups of channels. Forward and backward, NCHW.
//!
//! Semantics follow PyTorch: max pads with −∞ (a padded position is never selected), the first
//! maximum in row-major window order wins ties, indices are flat `h·W + w` in the unpadded input
//! plane; average divides by the window size (`count_include_pad`) or by its real elements;
//! ceil mode drops a last window that would start in the bottom/right padding.

mod adaptive;
pub mod backend;
mod channel;
pub mod cpu;
pub mod gpu;

pub use adaptive::{
    adaptive_avg_pool2d, adaptive_avg_pool2d_backward, global_avg_pool2d, AdaptiveGeometry,
};
pub use channel::{channel_max_pool, channel_max_pool_backward};

use crate::error::{Error, Result};
use crate::shape::{resolve_window, Padding, Shape, HW};
use crate::tensor::Tensor;

const OP: &str = "pool2d";

/// Window reduction of a pooling layer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PoolKind {
    /// The window's maximum; padding counts as −∞ and NaN propagates (PyTorch).
    Max,
    /// `count_include_pad`: divide by kh·kw (pad zeros included) instead of the real elements.
    Avg {
        /// Divide by the full window `kh·kw` (PyTorch's default) rather than by the input
        /// elements it covers.
        count_include_pad: bool,
    },
}

/// Options of a 2-D max or average pooling.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pool2dParams {
    /// Max or average.
    pub kind: PoolKind,
    /// Window height and width.
    pub kernel: HW<usize>,
    /// Defaults to the kernel size (Keras and PyTorch).
    pub stride: HW<usize>,
    /// Border treatment; max pools over −∞ padding, average over zeros.
    pub padding: Padding,
    /// Spacing of the window's taps (max, and average as ONNX's AveragePool `dilations`).
    pub dilation: HW<usize>,
    /// Round the output size up instead of down (PyTorch's `ceil_mode`), dropping a last
    /// window that would start in the bottom/right padding.
    pub ceil_mode: bool,
}

impl Pool2dParams {
    /// Max pooling over `kernel` windows with stride = kernel, valid padding, no dilation,
    /// floor mode.
    pub fn max(kernel: impl Into<HW<usize>>) -> Pool2dParams {
        let kernel = kernel.into();
        Pool2dParams {
            kind: PoolKind::Max,
            kernel,
            stride: kernel,
            padding: Padding::Valid,
            dilation: HW::square(1),
            ceil_mode: false,
        }
    }
    /// Average pooling with the defaults of [`Pool2dParams::max`] and `count_include_pad`
    /// (PyTorch's defaults).
    pub fn avg(kernel: impl Into<HW<usize>>) -> Pool2dParams {
        Pool2dParams {
            kind: PoolKind::Avg {
                count_include_pad: true,
            },
            ..Pool2dParams::max(kernel)
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
    /// Sets ceil mode.
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }

    /// Validates against the input shape and resolves every number the passes need.
    pub fn resolve(&self, x: &Shape) -> Result<Pool2dGeometry> {
        let (n, c, h_in, w_in) = nchw(x)?;
        check_u32(x)?;
        if h_in * w_in > 1 << 24 {
            return Err(Error::invalid(
                OP,
                "input plane",
                format!("{h_in}×{w_in}"),
                "arg-max indices are stored as exact f32 integers, so a plane is limited to 2^24 elements",
            ));
        }
        let win = resolve_window(
            OP,
            HW::new(h_in, w_in),
            self.kernel,
            self.stride,
            self.dilation,
            self.padding,
        )?;
        let (ext, pad_top, pad_bottom, pad_left, pad_right) =
            (win.ext, win.top, win.bottom, win.left, win.right);
        let axis =
            |size: usize, lo: usize, hi: usize, ext: usize, stride: usize, name: &'static str| {
                let padded = size + lo + hi;
                if padded < ext {
                    return Err(Error::invalid(
                        OP,
                        name,
                        ext,
                        format!("the window does not fit the padded input ({padded})"),
                    ));
                }
                let span = padded - ext;
                let mut out = if self.ceil_mode {
                    span.div_ceil(stride)
                } else {
                    span / stride
                } + 1;
                // PyTorch: the last window may not start in the bottom/right padding.
                if self.ceil_mode && (out - 1) * stride >= size + lo {
                    out -= 1;
                }
                Ok(out)
            };
        let h_out = axis(
            h_in,
            pad_top,
            pad_bottom,
            ext.h,
            self.stride.h,
            "kernel height",
        )?;
        let w_out = axis(
            w_in,
            pad_left,
            pad_right,
            ext.w,
            self.stride.w,
            "kernel width",
        )?;
        let g = Pool2dGeometry {
            n,
            c,
            h_in,
            w_in,
            h_out,
            w_out,
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
            kind: self.kind,
        };
        // Every window must see a real element, or max has nothing to pick and average
        // without the pad has nothing to divide by.
        for (rows, out, what) in [(true, h_out, "row"), (false, w_out, "column")] {
            if let Some(o) = (0..out).find(|&o| !g.sees_input(o, rows)) {
                return Err(Error::invalid(
                    OP,
                    "padding",
                    self.padding,
                    format!("output {what} {o} would see only padding"),
                ));
            }
        }
        Ok(g)
    }
}

fn nchw(x: &Shape) -> Result<(usize, usize, usize, usize)> {
    match *x.dims() {
        [n, c, h, w] if n > 0 && c > 0 && h > 0 && w > 0 => Ok((n, c, h, w)),
        _ => Err(Error::ShapeMismatch {
            op: OP,
            what: "input x",
            expected: "rank 4 [n, c, h, w] with no zero dimension".into(),
            got: x.to_string(),
        }),
    }
}

fn check_u32(x: &Shape) -> Result<()> {
    let numel = x.numel() as u64;
    if numel > u64::from(u32::MAX) {
        return Err(Error::TooLarge {
            what: format!("pooling input {x}"),
            bytes: numel.saturating_mul(4),
            limit: u64::from(u32::MAX),
        });
    }
    Ok(())
}

/// Every number of one pooling, resolved once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pool2dGeometry {
    /// Batch size.
    pub n: usize,
    /// Channels (pooled independently).
    pub c: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
    /// Window height and width.
    pub kernel: HW<usize>,
    /// Step between neighbouring windows, per axis.
    pub stride: HW<usize>,
    /// Spacing of the window's taps, per axis.
    pub dilation: HW<usize>,
    /// Padding rows above the input, resolved from the [`Padding`].
    pub pad_top: usize,
    /// Padding rows below the input.
    pub pad_bottom: usize,
    /// Padding columns left of the input.
    pub pad_left: usize,
    /// Padding columns right of the input.
    pub pad_right: usize,
    /// Max or average.
    pub kind: PoolKind,
}

impl Pool2dGeometry {
    /// Input shape `[n, c, h_in, w_in]`.
    pub fn x_shape(&self) -> Shape {
        Shape::new([self.n, self.c, self.h_in, self.w_in])
    }
    /// Output shape `[n, c, h_out, w_out]`.
    pub fn y_shape(&self) -> Shape {
        Shape::new([self.n, self.c, self.h_out, self.w_out])
    }
    /// (tap index, input coordinate) of the real (non-padding) taps of output `o` along H
    /// (`rows`) or W.
    pub fn taps(&self, o: usize, rows: bool) -> impl Iterator<Item = (usize, usize)> {
        let (k, s, d, pad, size) = if rows {
            (
                self.kernel.h,
                self.stride.h,
                self.dilation.h,
                self.pad_top,
                self.h_in,
            )
        } else {
            (
                self.kernel.w,
                self.stride.w,
                self.dilation.w,
                self.pad_left,
                self.w_in,
            )
        };
        (0..k).filter_map(move |t| {
            let i = (o * s + t * d).checked_sub(pad)?;
            (i < size).then_some((t, i))
        })
    }
    /// Whether window `o` along H (`rows`) or W has a tap inside the input: O(1), no tap walk.
    pub fn sees_input(&self, o: usize, rows: bool) -> bool {
        let (k, s, d, pad, size) = if rows {
            (
                self.kernel.h,
                self.stride.h,
                self.dilation.h,
                self.pad_top,
                self.h_in,
            )
        } else {
            (
                self.kernel.w,
                self.stride.w,
                self.dilation.w,
                self.pad_left,
                self.w_in,
            )
        };
        let start = o * s; // in padded coordinates
                           // First tap at or past the padding: t = ceil((pad − start) / d) when start < pad.
        let t = if start >= pad {
            0
        } else {
            (pad - start).div_ceil(d)
        };
        t < k && start + t * d - pad < size
    }

    /// The average's divisor for output (oh, ow).
    pub fn divisor(&self, oh: usize, ow: usize) -> usize {
        match self.kind {
            PoolKind::Avg {
                count_include_pad: true,
            } => {
                // PyTorch counts the pad zeros but not a ceil-mode overhang past the padding:
                // the taps that land inside the padded input.
                let inside = |o: usize, k: usize, s: usize, d: usize, padded: usize| {
                    (0..k).filter(|t| o * s + t * d < padded).count()
                };
                inside(
                    oh,
                    self.kernel.h,
                    self.stride.h,
                    self.dilation.h,
                    self.h_in + self.pad_top + self.pad_bottom,
                ) * inside(
                    ow,
                    self.kernel.w,
                    self.stride.w,
                    self.dilation.w,
                    self.w_in + self.pad_left + self.pad_right,
                )
            }
            _ => self.taps(oh, true).count() * self.taps(ow, false).count(),
        }
    }
}

/// Max pooling: `(y, idx)` with `idx` the flat `h·W + w` of each window's maximum (as exact f32
/// integers), as PyTorch's `return_indices`.
pub fn max_pool2d(x: &Tensor, p: &Pool2dParams) -> Result<(Tensor, Tensor)> {
    let p = Pool2dParams {
        kind: PoolKind::Max,
        ..*p
    };
    let g = p.resolve(x.shape())?;
    let (y, idx) = gpu::max_forward(x, &g, true)?;
    Ok((
        y,
        idx.ok_or_else(|| Error::invalid(OP, "indices", "none", "internal"))?,
    ))
}

/// Max pooling without the arg-max indices (inference: no backward will need them).
pub fn max_pool2d_inference(x: &Tensor, p: &Pool2dParams) -> Result<Tensor> {
    let p = Pool2dParams {
        kind: PoolKind::Max,
        ..*p
    };
    let g = p.resolve(x.shape())?;
    Ok(gpu::max_forward(x, &g, false)?.0)
}

/// Gradient of max pooling: each `dy` goes to its window's arg-max, summed where windows overlap.
pub fn max_pool2d_backward(
    dy: &Tensor,
    idx: &Tensor,
    x_shape: &Shape,
    p: &Pool2dParams,
) -> Result<Tensor> {
    let p = Pool2dParams {
        kind: PoolKind::Max,
        ..*p
    };
    let g = p.resolve(x_shape)?;
    check(dy, &g.y_shape(), "output gradient dy")?;
    check(idx, &g.y_shape(), "indices idx")?;
    crate::ops::same_device(OP, &[dy, idx])?;
    gpu::max_backward(dy, idx, &g)
}

/// Average pooling.
pub fn avg_pool2d(x: &Tensor, p: &Pool2dParams) -> Result<Tensor> {
    let g = avg_geometry(x.shape(), p)?;
    gpu::avg_forward(x, &g)
}

/// Gradient of average pooling: `dy / divisor` spread over each window's real elements.
pub fn avg_pool2d_backward(dy: &Tensor, x_shape: &Shape, p: &Pool2dParams) -> Result<Tensor> {
    let g = avg_geometry(x_shape, p)?;
    check(dy, &g.y_shape(), "output gradient dy")?;
    gpu::avg_backward(dy, &g)
}

fn avg_geometry(x: &Shape, p: &Pool2dParams) -> Result<Pool2dGeometry> {
    match p.kind {
        PoolKind::Avg { .. } => p.resolve(x),
        PoolKind::Max => Err(Error::invalid(
            OP,
            "kind",
            "Max",
            "use max_pool2d for max pooling",
        )),
    }
}

fn check(t: &Tensor, expected: &Shape, what: &'static str) -> Result<()> {
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
