//! The filter and bias gradients: dW's reduction over output pixels cut into splits whose
//! partial sums `sum_splits` adds, and the bias gradient's chunked tree reduction.

use super::super::kernel::Conv2dKernel;
use super::super::shaders::*;
use super::super::winograd::{self, WinogradConv};
use super::super::{Conv2dGeometry, ConvPass};
use super::{count, units_per_slice, unsupported, Conv2dUniforms, Sliced};
use crate::error::{Error, Result};
use crate::gpu::loops::{slices, Cost};
use crate::gpu::shaders::entry_point;
use crate::gpu::Gpu;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// How the filter gradient's reduction over the n·h_out output rows and w_out columns is
/// cut (common/conv2d_params.wgsl). Depends only on the geometry, the kernel, the adapter type and the
/// loop budget, so repeated runs reduce in the same order and give the same bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FilterSplits {
    /// Chunks with partial sums of their own: row chunks × column chunks.
    pub splits: usize,
    /// Output rows `(img, oh)` of the `n·h_out` in one row chunk (the last may have fewer).
    pub rows_per_split: usize,
    /// Column chunks per row chunk: chunk `s` covers row block `s / col_splits` and column
    /// block `s mod col_splits`.
    pub col_splits: usize,
    /// Output columns of the `w_out` in one column chunk, as many as one output row's pass
    /// over them fits in the loop budget.
    pub cols_per_split: usize,
    /// Rows of a chunk that one dispatch reduces: a chunk's rows run in sequential dispatches
    /// that accumulate, each within the loop budget.
    pub rows_per_dispatch: usize,
}

/// Splits of the filter gradient: enough workgroups to fill the device, never chunks shorter
/// than a few hundred terms, and each dispatch within the loop budget.
pub fn filter_splits(g: &Conv2dGeometry, kernel: Conv2dKernel, gpu: &Gpu) -> Result<FilterSplits> {
    let rows = g.n * g.h_out;
    let (blocks, z) = filter_workgroups(g, kernel);
    let target: usize = if gpu.is_software() { 64 } else { 1024 };
    let by_fill = target.div_ceil((blocks * z).max(1));
    let by_length = (rows * g.w_out / 256).max(1);
    let row_splits = by_fill.min(by_length).clamp(1, rows);
    let rows_per_split = rows.div_ceil(row_splits);
    // A row of `cols` columns costs 2 + extra + cols·(step + 1) passes (the shaders' headers).
    let (fixed, extra, step) = match kernel {
        Conv2dKernel::Gemm(t) | Conv2dKernel::Pointwise(t) => {
            (t.fixed_passes() + 1, t.mr as usize + 1, t.step_passes())
        }
        _ => (1, 0, 0),
    };
    let budget = gpu.loop_budget();
    let too_long = || Error::LoopBudget {
        op: "conv2d",
        what: "one output column of the filter gradient".into(),
        passes: fixed + extra + step + 3,
        budget,
    };
    let cols_per_split = budget
        .checked_sub(fixed + extra + 2)
        .map(|room| room / (step + 1))
        .filter(|&c| c >= 1)
        .ok_or_else(too_long)?
        .min(g.w_out);
    let col_splits = g.w_out.div_ceil(cols_per_split);
    let row = Cost {
        fixed,
        unit: 2 + extra + cols_per_split * (step + 1),
    };
    let rows_per_dispatch = row.per_dispatch(budget).ok_or_else(too_long)?;
    Ok(FilterSplits {
        splits: rows.div_ceil(rows_per_split) * col_splits,
        rows_per_split,
        col_splits,
        cols_per_split,
        rows_per_dispatch: rows_per_dispatch.min(rows_per_split),
    })
}

/// Workgroups of one split of the filter gradient: (folded blocks, z).
fn filter_workgroups(g: &Conv2dGeometry, kernel: Conv2dKernel) -> (usize, usize) {
    match kernel {
        Conv2dKernel::Gemm(t) | Conv2dKernel::Pointwise(t) => (
            g.reduction_len().div_ceil((WG * t.mr.max(1)) as usize),
            g.groups * g.cog().div_ceil(t.nr.max(1) as usize),
        ),
        Conv2dKernel::Depthwise
        | Conv2dKernel::Tiled
        | Conv2dKernel::Texture
        | Conv2dKernel::Winograd(_) => (g.w_shape().numel().div_ceil(WG as usize), 1),
    }
}

pub(crate) fn backward_filter(
    x: &Tensor,
    dy: &Tensor,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    if !kernel.supports(g, ConvPass::BackwardFilter) {
        return Err(unsupported(kernel, g));
    }
    if let Conv2dKernel::Winograd(m) = kernel {
        let c = WinogradConv::backward_filter(g, m);
        let gemm = winograd::filter_gemm_kernel(x.gpu().adapter_info(), g.c_in);
        return winograd::run_filter(x, dy, &c, gemm);
    }
    let gpu = x.gpu();
    let w_shape = g.w_shape();
    let len = w_shape.numel();
    let fs = filter_splits(g, kernel, gpu)?;
    let (blocks, z_per_split) = filter_workgroups(g, kernel);
    let mut u = Conv2dUniforms::new(g);
    u.splits = count(fs.splits)?;
    u.rows_per_split = count(fs.rows_per_split)?;
    u.col_splits = count(fs.col_splits)?;
    u.cols_per_split = count(fs.cols_per_split)?;
    u.len = count(len)?;
    let dw = Tensor::uninit(gpu, w_shape.clone())?;
    let parts = if fs.splits == 1 {
        dw.clone()
    } else {
        Tensor::uninit(gpu, Shape::new([fs.splits, len]))?
    };
    let (key, blocks, z) = match kernel {
        Conv2dKernel::Depthwise => (
            depthwise_key(entry_point!(DEPTHWISE, "backward_filter")),
            count((fs.splits * len).div_ceil(WG as usize))?,
            1,
        ),
        Conv2dKernel::Gemm(t) => (
            gemm_backward_filter_key(t),
            count(blocks)?,
            count(fs.splits * z_per_split)?,
        ),
        Conv2dKernel::Pointwise(_)
        | Conv2dKernel::Tiled
        | Conv2dKernel::Texture
        | Conv2dKernel::Winograd(_) => return Err(unsupported(kernel, g)),
    };
    let inputs = match kernel {
        Conv2dKernel::Depthwise => vec![Some(x), Some(dy), None],
        _ => vec![Some(x), Some(dy)],
    };
    let pass = Sliced {
        key,
        u,
        inputs,
        textures: Vec::new(),
        blocks,
        z,
    };
    pass.run(&parts, None, fs.rows_per_split, fs.rows_per_dispatch)?;
    if fs.splits > 1 {
        sum_splits(&parts, &dw, fs.splits, len)?;
    }
    Ok(dw)
}

/// dst = Σ over the `splits` slices of `len` elements of `parts`, in order, in K-slices of
/// splits within the loop budget (splits + 1 passes).
fn sum_splits(parts: &Tensor, dst: &Tensor, splits: usize, len: usize) -> Result<()> {
    let gpu = parts.gpu();
    let u = Conv2dUniforms {
        splits: count(splits)?,
        len: count(len)?,
        ..Conv2dUniforms::default()
    };
    let blocks = count(len.div_ceil(WG as usize))?;
    let bufs = [Some(parts), Some(dst)];
    let cost = Cost { fixed: 1, unit: 1 };
    let per = units_per_slice(gpu, cost, || "a split".into())?;
    // Memory-bound: later slices add into dst in place.
    for (i, ks) in slices(splits, per).enumerate() {
        let slice = Conv2dUniforms {
            k_begin: count(ks.start)?,
            k_end: count(ks.end)?,
            accumulate: u32::from(i > 0),
            ..u
        };
        gpu.dispatch_tensors(&sum_splits_key(), &slice, &bufs, blocks, 1)?;
    }
    Ok(())
}

pub(crate) fn backward_bias(dy: &Tensor) -> Result<Tensor> {
    let &[n, c_out, h_out, w_out] = dy.dims() else {
        return Err(Error::ShapeMismatch {
            op: "conv2d",
            what: "output gradient dy",
            expected: "rank 4".into(),
            got: dy.shape().to_string(),
        });
    };
    let gpu = dy.gpu();
    let db = Tensor::uninit(gpu, Shape::new([c_out]))?;
    // Chunks of a channel's n·h·w values: a pass per WG of them, one more, and the tree's.
    let per_channel = n * h_out * w_out;
    let tree = Cost {
        fixed: 1 + WG_REDUCE.ilog2() as usize + 1,
        unit: 1,
    };
    let len = units_per_slice(gpu, tree, || "a bias-gradient chunk".into())? * WG_REDUCE as usize;
    let chunks = per_channel.div_ceil(len).max(1);
    let u = Conv2dUniforms {
        n: count(n)?,
        c_out: count(c_out)?,
        h_out: count(h_out)?,
        w_out: count(w_out)?,
        len: count(len)?,
        ..Conv2dUniforms::default()
    };
    let parts = if chunks == 1 {
        db.clone()
    } else {
        Tensor::uninit(gpu, Shape::new([chunks, c_out]))?
    };
    let k = backward_bias_key();
    let bufs = [dy.binding(), parts.binding()];
    gpu.dispatch(&k, &u, &bufs, None, &[], (count(c_out)?, count(chunks)?))?;
    if chunks > 1 {
        sum_splits(&parts, &db, chunks, c_out)?;
    }
    Ok(db)
}
