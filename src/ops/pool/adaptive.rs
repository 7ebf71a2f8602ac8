//! Adaptive and global average pooling (PyTorch's windows).

use super::{check, check_u32, gpu, nchw, OP};
use crate::error::{Error, Result};
use crate::shape::{Shape, HW};
use crate::tensor::Tensor;

/// Adaptive average pooling to `out` (PyTorch's windows: rows `[⌊i·H/Ho⌋, ⌈(i+1)·H/Ho⌉)`).
pub fn adaptive_avg_pool2d(x: &Tensor, out: impl Into<HW<usize>>) -> Result<Tensor> {
    let g = AdaptiveGeometry::resolve(x.shape(), out.into())?;
    gpu::adaptive_forward(x, &g)
}

/// Gradient of adaptive average pooling.
pub fn adaptive_avg_pool2d_backward(dy: &Tensor, x_shape: &Shape) -> Result<Tensor> {
    let &[_, _, h_out, w_out] = dy.dims() else {
        return Err(Error::ShapeMismatch {
            op: OP,
            what: "output gradient dy",
            expected: "rank 4".into(),
            got: dy.shape().to_string(),
        });
    };
    let g = AdaptiveGeometry::resolve(x_shape, HW::new(h_out, w_out))?;
    check(dy, &g.y_shape(), "output gradient dy")?;
    gpu::adaptive_backward(dy, &g)
}

/// Global average pooling: `[n, c, h, w] → [n, c, 1, 1]`.
pub fn global_avg_pool2d(x: &Tensor) -> Result<Tensor> {
    adaptive_avg_pool2d(x, HW::square(1))
}

/// Geometry of an adaptive pooling.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AdaptiveGeometry {
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
}

impl AdaptiveGeometry {
    /// Validates an input `x` `[n, c, h, w]` and an output size of at least 1×1, and checks
    /// that the shaders' 32-bit window arithmetic cannot overflow.
    pub fn resolve(x: &Shape, out: HW<usize>) -> Result<AdaptiveGeometry> {
        let (n, c, h_in, w_in) = nchw(x)?;
        // The shaders form i·size/out and (i+1)·size in 32 bits.
        if (h_in as u64 + 1) * (out.h as u64 + 1) > u64::from(u32::MAX)
            || (w_in as u64 + 1) * (out.w as u64 + 1) > u64::from(u32::MAX)
        {
            return Err(Error::invalid(
                OP,
                "output size",
                out,
                format!("input {h_in}×{w_in} times output exceeds 2^32 window arithmetic"),
            ));
        }
        if out.h == 0 || out.w == 0 {
            return Err(Error::invalid(
                OP,
                "output size",
                out,
                "must be at least 1×1",
            ));
        }
        check_u32(x)?;
        Ok(AdaptiveGeometry {
            n,
            c,
            h_in,
            w_in,
            h_out: out.h,
            w_out: out.w,
        })
    }
    /// Input shape `[n, c, h_in, w_in]`.
    pub fn x_shape(&self) -> Shape {
        Shape::new([self.n, self.c, self.h_in, self.w_in])
    }
    /// Output shape `[n, c, h_out, w_out]`.
    pub fn y_shape(&self) -> Shape {
        Shape::new([self.n, self.c, self.h_out, self.w_out])
    }
    /// Input range `[start, end)` of output `i` along an axis of `size` cut into `out`.
    pub fn window(i: usize, size: usize, out: usize) -> (usize, usize) {
        (i * size / out, ((i + 1) * size).div_ceil(out))
    }
}
