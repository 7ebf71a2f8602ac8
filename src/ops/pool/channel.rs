//! Channel-wise max pooling over groups of consecutive channels.

use super::{check, check_u32, gpu, nchw, OP};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Channel-wise max pooling over groups of `k` consecutive channels (the seeds' `DepthPool`):
/// `[n, c, h, w] → [n, c/k, h, w]`, with the flat channel index of each maximum (exact f32).
pub fn channel_max_pool(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    let (_, c, _, _) = nchw(x.shape())?;
    if k == 0 || c % k != 0 {
        return Err(Error::invalid(
            OP,
            "channel group",
            k,
            format!("must divide the channels ({c})"),
        ));
    }
    check_u32(x.shape())?;
    gpu::channel_max_forward(x, k)
}

/// Gradient of channel-wise max pooling.
pub fn channel_max_pool_backward(
    dy: &Tensor,
    idx: &Tensor,
    x_shape: &Shape,
    k: usize,
) -> Result<Tensor> {
    let (n, c, h, w) = nchw(x_shape)?;
    if k == 0 || c % k != 0 {
        return Err(Error::invalid(
            OP,
            "channel group",
            k,
            format!("must divide the channels ({c})"),
        ));
    }
    let y = Shape::new([n, c / k, h, w]);
    check(dy, &y, "output gradient dy")?;
    check(idx, &y, "indices idx")?;
    gpu::channel_max_backward(dy, idx, x_shape, k)
}
