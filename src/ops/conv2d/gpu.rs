//! GPU side of conv2d: the uniform block, kernel choice and dispatch of each pass.

use super::kernel::{Conv2dKernel, RegisterTile};
use super::winograd::{self, WinogradConv};
use super::{Conv2dGeometry, Pass};
use crate::error::{Error, Result};
use crate::gpu::loops::{slices, Cost};
use crate::gpu::{uniform_block, Gpu, Overrides, PipelineKey, Shader};
use crate::ops::elementwise::Activation;
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of the WGSL `struct Params` shared by every conv2d shader (same names, same order).
pub struct Conv2dUniforms {
    pub n: u32,
    pub c_in: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub c_out: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub groups: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub dil_h: u32,
    pub dil_w: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub has_bias: u32,
    /// Split-K chunks of the filter gradient.
    pub splits: u32,
    /// Output rows (img, oh) per split.
    pub rows_per_split: u32,
    /// Element count for `sum_splits`.
    pub len: u32,
    /// Fused activation of the forward epilogue: 0 none, else `Activation::code().0 + 1`.
    pub act: u32,
    pub alpha: f32,
    /// This dispatch's K-slice, in the unit of its kernel (conv2d_params.wgsl).
    pub k_begin: u32,
    pub k_end: u32,
    /// 1: add the value the previous K-slice stored.
    pub accumulate: u32,
    /// Column chunks of the filter gradient's split and columns per chunk.
    pub col_splits: u32,
    pub cols_per_split: u32,
    /// Taps per segment of a window row and segments per row (conv2d_params.wgsl).
    pub seg: u32,
    pub segs: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}
}

impl Conv2dUniforms {
    /// `resolve` has checked every count against u32, so the casts cannot truncate.
    pub fn new(g: &Conv2dGeometry) -> Conv2dUniforms {
        let u = |v: usize| v as u32;
        Conv2dUniforms {
            n: u(g.n),
            c_in: u(g.c_in),
            h_in: u(g.h_in),
            w_in: u(g.w_in),
            c_out: u(g.c_out),
            h_out: u(g.h_out),
            w_out: u(g.w_out),
            groups: u(g.groups),
            kh: u(g.kh),
            kw: u(g.kw),
            stride_h: u(g.stride.h),
            stride_w: u(g.stride.w),
            dil_h: u(g.dilation.h),
            dil_w: u(g.dilation.w),
            pad_top: u(g.pad_top),
            pad_left: u(g.pad_left),
            has_bias: 0,
            splits: 1,
            rows_per_split: u(g.n * g.h_out),
            len: 0,
            act: 0,
            alpha: 0.0,
            k_begin: 0,
            k_end: 0,
            accumulate: 0,
            col_splits: 1,
            cols_per_split: u(g.w_out),
            seg: u(g.kw),
            segs: 1,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }
}

/// Reduction units one dispatch of a kernel with loop cost `cost` may take (the loop budget),
/// or an error naming `what` one unit is when not even one fits.
fn units_per_slice(gpu: &Gpu, cost: Cost, what: impl Fn() -> String) -> Result<usize> {
    let budget = gpu.loop_budget();
    cost.per_dispatch(budget).ok_or_else(|| Error::LoopBudget {
        op: "conv2d",
        what: what(),
        passes: cost.fixed + cost.unit,
        budget,
    })
}

/// How a windowed kernel's window rows are cut (conv2d_params.wgsl): taps per segment,
/// segments per row, and units (row segments) per dispatch.
#[derive(Clone, Copy)]
struct Segments {
    seg: usize,
    segs: usize,
    per: usize,
}

impl Segments {
    /// For a kernel of `fixed` loop passes, `base` more per unit and `tap` more per tap, on
    /// rows of `kw` taps: rows longer than the loop budget allows are cut into segments.
    fn of(gpu: &Gpu, fixed: usize, base: usize, tap: usize, kw: usize) -> Result<Segments> {
        let budget = gpu.loop_budget();
        let seg = budget
            .checked_sub(fixed + base)
            .map(|room| room / tap)
            .filter(|&taps| taps >= 1)
            .ok_or(Error::LoopBudget {
                op: "conv2d",
                what: "one tap of a window".into(),
                passes: fixed + base + tap,
                budget,
            })?
            .min(kw);
        Ok(Segments {
            seg,
            segs: kw.div_ceil(seg),
            per: (budget - fixed) / (base + seg * tap),
        })
    }

    /// The register-tile kernels (the shaders' headers), `extra` passes more per unit (dX's
    /// set-up of its MR output rows).
    fn gemm(gpu: &Gpu, t: RegisterTile, extra: usize, kw: usize) -> Result<Segments> {
        Segments::of(
            gpu,
            t.fixed_passes() + 1,
            2 + extra,
            t.step_passes() + 1,
            kw,
        )
    }

    /// The depthwise forward and dX kernels.
    fn depthwise(gpu: &Gpu, kw: usize) -> Result<Segments> {
        let owt = DEPTHWISE_OWT as usize;
        Segments::of(gpu, owt + 2, 2, owt + 2, kw)
    }

    /// The uniforms with this cut.
    fn apply(self, u: &Conv2dUniforms) -> Result<Conv2dUniforms> {
        Ok(Conv2dUniforms {
            seg: count(self.seg)?,
            segs: count(self.segs)?,
            ..*u
        })
    }
}

/// Loop passes of `forward_tiled` per staged step of BK taps (conv2d_forward.wgsl).
const TILED_COST: Cost = Cost {
    fixed: 37,
    unit: 508,
};

/// One pass of a K-sliced kernel: its pipeline, uniforms, the bindings before its output and
/// its grid.
struct Sliced<'a> {
    key: PipelineKey,
    u: Conv2dUniforms,
    inputs: Vec<Option<&'a Tensor>>,
    blocks: u32,
    z: u32,
}

impl Sliced<'_> {
    /// Records the pass once per K-slice of `units` reduction units, at most `per` each. The
    /// kernels only write (a read of the output in their epilogue slowed Mesa 22's register
    /// tiles): the first slice writes `out`, with the bias, each later one a temporary that
    /// `accumulate` adds into `out`, applying the activation `act` after the last.
    fn run(&self, out: &Tensor, act: Option<Activation>, units: usize, per: usize) -> Result<()> {
        let ranges: Vec<_> = slices(units, per).collect();
        let temp = match ranges.len() {
            0 | 1 => None,
            _ => Some(Tensor::zeros(out.gpu(), out.shape().clone())?),
        };
        for (i, ks) in ranges.iter().enumerate() {
            let slice = Conv2dUniforms {
                k_begin: count(ks.start)?,
                k_end: count(ks.end)?,
                has_bias: if i == 0 { self.u.has_bias } else { 0 },
                act: if temp.is_none() { self.u.act } else { 0 },
                ..self.u
            };
            let target = match (i, &temp) {
                (0, _) | (_, None) => out,
                (_, Some(t)) => t,
            };
            let mut bufs = self.inputs.clone();
            bufs.push(Some(target));
            out.gpu()
                .dispatch_tensors(&self.key, &slice, &bufs, self.blocks, self.z)?;
            if let (true, Some(t)) = (i > 0, &temp) {
                let f = act.filter(|_| i + 1 == ranges.len());
                crate::ops::elementwise::gpu::accumulate(out, t, f)?;
            }
        }
        Ok(())
    }
}

/// Invocations per workgroup (the `WG` override).
const WG: u32 = 64;
/// Outputs (forward) or inputs (backward data) of a row per depthwise invocation (`const OWT`
/// in conv2d_depthwise.wgsl).
pub const DEPTHWISE_OWT: u32 = 8;
/// Pixels × channels of one workgroup tile of `forward_tiled` (`const BM`, `const BN`).
pub const TILE: u32 = 64;
/// K depth staged per step by `forward_tiled` (the `BK` override).
const BK: u32 = 16;
/// Workgroup size of the bias-gradient tree reduction (a power of two).
const WG_REDUCE: u32 = 256;

fn key(shader: Shader, entry: &'static str, overrides: &[(&'static str, u32)]) -> PipelineKey {
    PipelineKey {
        shader,
        entry,
        overrides: Overrides::new(overrides),
    }
}

fn gemm_forward_key(t: RegisterTile, pointwise: bool) -> PipelineKey {
    let pw = u32::from(pointwise);
    let o = [("WG", WG), ("MR", t.mr), ("NR", t.nr), ("POINTWISE", pw)];
    key(Shader::Conv2dForward, "forward", &o)
}
fn gemm_backward_data_key(t: RegisterTile) -> PipelineKey {
    let o = [("WG", WG), ("MR", t.mr), ("NR", t.nr)];
    key(Shader::Conv2dBackwardData, "backward_data", &o)
}
fn gemm_backward_filter_key(t: RegisterTile) -> PipelineKey {
    let o = [("WG", WG), ("MR", t.mr), ("NR", t.nr)];
    key(Shader::Conv2dBackwardFilter, "backward_filter", &o)
}
fn tiled_forward_key() -> PipelineKey {
    key(Shader::Conv2dForward, "forward_tiled", &[("BK", BK)])
}
fn depthwise_key(entry: &'static str) -> PipelineKey {
    key(Shader::Conv2dDepthwise, entry, &[("WG", WG)])
}
fn sum_splits_key() -> PipelineKey {
    key(Shader::Conv2dReduce, "sum_splits", &[("WG", WG)])
}

/// Every pipeline this module dispatches (the naga test validates each).
pub fn pipelines() -> Vec<PipelineKey> {
    let mut keys = Vec::new();
    for t in RegisterTile::ALL {
        keys.extend([
            gemm_forward_key(t, false),
            gemm_forward_key(t, true),
            gemm_backward_data_key(t),
            gemm_backward_filter_key(t),
        ]);
    }
    keys.extend(winograd::pipelines());
    keys.extend([
        tiled_forward_key(),
        depthwise_key("forward"),
        depthwise_key("backward_data"),
        depthwise_key("backward_filter"),
        sum_splits_key(),
        key(Shader::Conv2dReduce, "backward_bias", &[("WG", WG_REDUCE)]),
    ]);
    keys
}

fn unsupported(kernel: Conv2dKernel, g: &Conv2dGeometry) -> Error {
    Error::invalid(
        "conv2d",
        "kernel",
        format!("{kernel:?}"),
        format!("that kernel cannot run {g}"),
    )
}

fn count(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what: "conv2d dispatch".into(),
        bytes: v as u64,
        limit: u64::from(u32::MAX),
    })
}

pub(crate) fn forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
    act: Option<Activation>,
) -> Result<Tensor> {
    if !kernel.supports(g, Pass::Forward) {
        return Err(unsupported(kernel, g));
    }
    if let Conv2dKernel::Winograd(m) = kernel {
        let gemm = winograd::gemm_kernel(x.gpu().adapter_info());
        return winograd::run(x, w, b, &WinogradConv::forward(g, m), act, gemm);
    }
    let gpu = x.gpu();
    let y = Tensor::zeros(gpu, g.y_shape())?;
    let mut u = Conv2dUniforms::new(g);
    u.has_bias = u32::from(b.is_some());
    if let Some(f) = act {
        let (code, alpha) = f.code();
        (u.act, u.alpha) = (code + 1, alpha);
    }
    let inputs = vec![Some(x), Some(w), b];
    match kernel {
        Conv2dKernel::Depthwise => {
            let rows = g.n * g.c_out * g.h_out;
            let invocations = rows * g.w_out.div_ceil(DEPTHWISE_OWT as usize);
            let blocks = count(invocations.div_ceil(WG as usize))?;
            let cut = Segments::depthwise(gpu, g.kw)?;
            let (key, u) = (depthwise_key("forward"), cut.apply(&u)?);
            let pass = Sliced {
                key,
                u,
                inputs,
                blocks,
                z: 1,
            };
            pass.run(&y, act, g.kh * cut.segs, cut.per)?;
        }
        Conv2dKernel::Tiled => {
            let m = g.n * g.h_out * g.w_out;
            let blocks = count(m.div_ceil(TILE as usize))?;
            let z = count(g.groups * g.cog().div_ceil(TILE as usize))?;
            let per = units_per_slice(gpu, TILED_COST, || "a tile step".into())? * BK as usize;
            let key = tiled_forward_key();
            let pass = Sliced {
                key,
                u,
                inputs,
                blocks,
                z,
            };
            pass.run(&y, act, g.reduction_len(), per)?;
        }
        // Winograd returned above.
        Conv2dKernel::Winograd(_) => return Err(unsupported(kernel, g)),
        Conv2dKernel::Gemm(t) | Conv2dKernel::Pointwise(t) => {
            let m = g.n * g.h_out * g.w_out;
            let blocks = count(m.div_ceil((WG * t.mr) as usize))?;
            let z = count(g.groups * g.cog().div_ceil(t.nr as usize))?;
            let pointwise = matches!(kernel, Conv2dKernel::Pointwise(_));
            // Pointwise slices channels (one step each), the GEMM segments of window rows.
            let (units, per, u) = if pointwise {
                let cost = Cost {
                    fixed: t.fixed_passes() + 1,
                    unit: t.step_passes() + 1,
                };
                (
                    g.cg(),
                    units_per_slice(gpu, cost, || "a channel".into())?,
                    u,
                )
            } else {
                let cut = Segments::gemm(gpu, t, 0, g.kw)?;
                (g.cg() * g.kh * cut.segs, cut.per, cut.apply(&u)?)
            };
            let key = gemm_forward_key(t, pointwise);
            let pass = Sliced {
                key,
                u,
                inputs,
                blocks,
                z,
            };
            pass.run(&y, act, units, per)?;
        }
    }
    Ok(y)
}

pub(crate) fn backward_data(
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    if !kernel.supports(g, Pass::BackwardData) {
        return Err(unsupported(kernel, g));
    }
    if let Conv2dKernel::Winograd(m) = kernel {
        let gemm = winograd::gemm_kernel(dy.gpu().adapter_info());
        return winograd::run(dy, w, None, &WinogradConv::backward_data(g, m), None, gemm);
    }
    let gpu = dy.gpu();
    let dx = Tensor::zeros(gpu, g.x_shape())?;
    let u = Conv2dUniforms::new(g);
    match kernel {
        Conv2dKernel::Depthwise => {
            let rows = g.n * g.c_in * g.h_in;
            let invocations = rows * g.w_in.div_ceil(DEPTHWISE_OWT as usize);
            let blocks = count(invocations.div_ceil(WG as usize))?;
            // Segments of the rows of (window row, channel multiplier) pairs.
            let cut = Segments::depthwise(gpu, g.kw)?;
            let units = g.kh * (g.c_out / g.c_in) * cut.segs;
            let pass = Sliced {
                key: depthwise_key("backward_data"),
                u: cut.apply(&u)?,
                inputs: vec![Some(dy), Some(w), None],
                blocks,
                z: 1,
            };
            pass.run(&dx, None, units, cut.per)?;
        }
        Conv2dKernel::Gemm(t) => {
            // Pixels are enumerated per stride phase (see the shader's header).
            let (sh, sw) = (g.stride.h, g.stride.w);
            let m = g.n * g.h_in.div_ceil(sh) * g.w_in.div_ceil(sw);
            let blocks = count(m.div_ceil((WG * t.mr) as usize))?;
            let z = count(sh * sw * g.groups * g.cg().div_ceil(t.nr as usize))?;
            // A unit also sets up its MR output rows.
            let cut = Segments::gemm(gpu, t, t.mr as usize + 1, g.kw)?;
            let units = g.cog() * g.kh * cut.segs;
            let pass = Sliced {
                key: gemm_backward_data_key(t),
                u: cut.apply(&u)?,
                inputs: vec![Some(dy), Some(w)],
                blocks,
                z,
            };
            pass.run(&dx, None, units, cut.per)?;
        }
        // Winograd returned above.
        Conv2dKernel::Pointwise(_) | Conv2dKernel::Tiled | Conv2dKernel::Winograd(_) => {
            return Err(unsupported(kernel, g))
        }
    }
    Ok(dx)
}

/// How the filter gradient's reduction over the n·h_out output rows and w_out columns is
/// cut (conv2d_params.wgsl). Depends only on the geometry, the kernel, the adapter type and the
/// loop budget, so repeated runs reduce in the same order and give the same bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FilterSplits {
    /// Chunks with partial sums of their own: row chunks × column chunks.
    pub splits: usize,
    pub rows_per_split: usize,
    pub col_splits: usize,
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
        Conv2dKernel::Depthwise | Conv2dKernel::Tiled | Conv2dKernel::Winograd(_) => {
            (g.w_shape().numel().div_ceil(WG as usize), 1)
        }
    }
}

pub(crate) fn backward_filter(
    x: &Tensor,
    dy: &Tensor,
    g: &Conv2dGeometry,
    kernel: Conv2dKernel,
) -> Result<Tensor> {
    if !kernel.supports(g, Pass::BackwardFilter) {
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
    let dw = Tensor::zeros(gpu, w_shape.clone())?;
    let parts = if fs.splits == 1 {
        dw.clone()
    } else {
        Tensor::zeros(gpu, Shape::new([fs.splits, len]))?
    };
    let (key, blocks, z) = match kernel {
        Conv2dKernel::Depthwise => (
            depthwise_key("backward_filter"),
            count((fs.splits * len).div_ceil(WG as usize))?,
            1,
        ),
        Conv2dKernel::Gemm(t) => (
            gemm_backward_filter_key(t),
            count(blocks)?,
            count(fs.splits * z_per_split)?,
        ),
        Conv2dKernel::Pointwise(_) | Conv2dKernel::Tiled | Conv2dKernel::Winograd(_) => {
            return Err(unsupported(kernel, g))
        }
    };
    let inputs = match kernel {
        Conv2dKernel::Depthwise => vec![Some(x), Some(dy), None],
        _ => vec![Some(x), Some(dy)],
    };
    let pass = Sliced {
        key,
        u,
        inputs,
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
    let db = Tensor::zeros(gpu, Shape::new([c_out]))?;
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
        Tensor::zeros(gpu, Shape::new([chunks, c_out]))?
    };
    let k = key(Shader::Conv2dReduce, "backward_bias", &[("WG", WG_REDUCE)]);
    let bufs = [dy.binding(), parts.binding()];
    gpu.dispatch(&k, &u, &bufs, count(c_out)?, count(chunks)?)?;
    if chunks > 1 {
        sum_splits(&parts, &db, chunks, c_out)?;
    }
    Ok(db)
}
