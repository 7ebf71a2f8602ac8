//! GPU side of pooling: the uniform block and one dispatch per pass (`shaders/pool.wgsl`).

use super::Pool2dParams;
use super::{AdaptiveGeometry, Pool2dGeometry, PoolKind};
use crate::error::{Error, Result};
use crate::gpu::loops::slices;
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Gpu, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::ops::backend::{GpuBackend, PoolBackend};
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in pool.wgsl.
pub(crate) struct PoolUniforms {
    /// Batch size.
    pub n: u32,
    /// Channels of the input.
    pub c: u32,
    /// Input height.
    pub h_in: u32,
    /// Input width.
    pub w_in: u32,
    /// Output height.
    pub h_out: u32,
    /// Output width.
    pub w_out: u32,
    /// Window height.
    pub kh: u32,
    /// Window width.
    pub kw: u32,
    /// Vertical stride.
    pub stride_h: u32,
    /// Horizontal stride.
    pub stride_w: u32,
    /// Vertical dilation of the taps.
    pub dil_h: u32,
    /// Horizontal dilation of the taps.
    pub dil_w: u32,
    /// Padding rows above the input.
    pub pad_top: u32,
    /// Padding columns left of the input.
    pub pad_left: u32,
    /// Padding rows below the input (bounds the taps `count_include_pad` counts).
    pub pad_bottom: u32,
    /// Padding columns right of the input.
    pub pad_right: u32,
    /// 1: average divides by the taps inside the padded input, pads included (PyTorch).
    pub count_include_pad: u32,
    /// Channels per group of the channel-wise max.
    pub k: u32,
    /// Not read by any entry point of pool.wgsl; left 0.
    pub len: u32,
    /// 1: the max forward does not store arg-max indices (inference).
    pub no_idx: u32,
    /// This dispatch's band of the outer loop (pool.wgsl), the later bands accumulating and
    /// the last one finishing the averages.
    pub k_begin: u32,
    /// End (exclusive) of this dispatch's band, in units.
    pub k_end: u32,
    /// 1: continue from what the previous band stored (running sum, or maximum and index).
    pub accumulate: u32,
    /// 1 on the last band: the averages divide by their divisor.
    pub finish: u32,
    /// Columns per segment of a row, segments per row (pool.wgsl's units).
    pub seg: u32,
    /// Segments per row (1 unless a row is longer than the loop budget allows).
    pub segs: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
}
}

const WG: u32 = 64;

/// `shaders/pool.wgsl`: src, aux, dst, dst_idx.
pub static SHADER: ShaderDef = ShaderDef {
    name: "pool",
    source: include_str!("../../../shaders/pool.wgsl"),
    entry_points: &[
        "max_forward",
        "max_backward",
        "max_backward_cells",
        "avg_forward",
        "avg_backward",
        "adaptive_forward",
        "adaptive_backward",
        "channel_max_forward",
        "channel_max_backward",
    ],
    storage_read_only: &[true, true, false, false],
    uniform: UniformLayout::of::<PoolUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

fn key(entry: &'static str) -> PipelineKey {
    PipelineKey {
        shader: &SHADER,
        entry,
        overrides: Overrides::new(&[("WG", WG)]),
    }
}

/// Every pipeline this module dispatches.
pub fn pipelines() -> Vec<PipelineKey> {
    SHADER.entry_points.iter().map(|e| key(e)).collect()
}

/// Sizes are checked against u32 by `resolve`, so the casts cannot truncate.
fn u(v: usize) -> u32 {
    v as u32
}

fn uniforms(g: &Pool2dGeometry) -> PoolUniforms {
    PoolUniforms {
        n: u(g.n),
        c: u(g.c),
        h_in: u(g.h_in),
        w_in: u(g.w_in),
        h_out: u(g.h_out),
        w_out: u(g.w_out),
        kh: u(g.kernel.h),
        kw: u(g.kernel.w),
        stride_h: u(g.stride.h),
        stride_w: u(g.stride.w),
        dil_h: u(g.dilation.h),
        dil_w: u(g.dilation.w),
        pad_top: u(g.pad_top),
        pad_left: u(g.pad_left),
        pad_bottom: u(g.pad_bottom),
        pad_right: u(g.pad_right),
        count_include_pad: u32::from(matches!(
            g.kind,
            PoolKind::Avg {
                count_include_pad: true
            }
        )),
        ..PoolUniforms::default()
    }
}

fn adaptive_uniforms(g: &AdaptiveGeometry) -> PoolUniforms {
    PoolUniforms {
        n: u(g.n),
        c: u(g.c),
        h_in: u(g.h_in),
        w_in: u(g.w_in),
        h_out: u(g.h_out),
        w_out: u(g.w_out),
        ..PoolUniforms::default()
    }
}

/// The walk of one pooling pass: `rows` rows of its outer range, each of at most `cols`
/// columns (pool.wgsl's header).
#[derive(Clone, Copy)]
struct Bands {
    rows: usize,
    cols: usize,
}

/// How a pass's units are cut: columns per segment, segments per row, units per dispatch.
#[derive(Clone, Copy)]
struct Cut {
    seg: usize,
    segs: usize,
    per: usize,
}

impl Bands {
    /// A unit of `seg` columns costs seg + 2 loop passes and a dispatch 1 more: rows longer
    /// than the budget allows are cut into segments.
    fn cut(self, gpu: &Gpu) -> Cut {
        // `set_loop_budget` keeps the budget ≥ 16.
        let budget = gpu.loop_budget();
        let seg = self.cols.clamp(1, budget - 3);
        Cut {
            seg,
            segs: self.cols.div_ceil(seg).max(1),
            per: (budget - 1) / (seg + 2),
        }
    }

    fn units(self, cut: Cut) -> usize {
        self.rows * cut.segs
    }

    /// Dispatches the pass takes.
    fn dispatches(self, gpu: &Gpu) -> usize {
        let cut = self.cut(gpu);
        self.units(cut).div_ceil(cut.per)
    }
}

/// Windows along one axis that contain an input position: at most `reach / stride + 1`.
fn windows_per_input(k: usize, dil: usize, stride: usize, outputs: usize) -> usize {
    ((k - 1) * dil / stride + 1).min(outputs)
}

/// Records `entry` once per band, one invocation per element of `elements`.
fn run_banded(
    gpu: &Gpu,
    entry: &'static str,
    uniforms: &PoolUniforms,
    bufs: [Option<&Tensor>; 4],
    elements: usize,
    bands: Bands,
) -> Result<()> {
    let cut = bands.cut(gpu);
    let units = bands.units(cut);
    for (i, b) in slices(units, cut.per).enumerate() {
        let band = PoolUniforms {
            k_begin: u(b.start),
            k_end: u(b.end),
            accumulate: u32::from(i > 0),
            finish: u32::from(b.end == units),
            seg: u(cut.seg),
            segs: u(cut.segs),
            ..*uniforms
        };
        run(gpu, entry, &band, bufs, elements)?;
    }
    Ok(())
}

/// One invocation per element of `elements`. `bufs` are src, aux, dst, dst_idx.
fn run(
    gpu: &Gpu,
    entry: &'static str,
    u: &PoolUniforms,
    bufs: [Option<&Tensor>; 4],
    elements: usize,
) -> Result<()> {
    let blocks = u32::try_from(elements.div_ceil(WG as usize)).map_err(|_| Error::TooLarge {
        what: format!("pooling dispatch of {elements} elements"),
        bytes: elements as u64 * 4,
        limit: u64::from(u32::MAX),
    })?;
    gpu.dispatch_tensors(&key(entry), u, &bufs, blocks, 1)
}

/// Max pooling; with `with_idx` also the arg-max indices backward needs.
pub(crate) fn max_forward(
    x: &Tensor,
    g: &Pool2dGeometry,
    with_idx: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, g.y_shape())?;
    let bands = Bands {
        rows: g.kernel.h,
        cols: g.kernel.w,
    };
    // Several bands carry the arg-max from one to the next, so they need the indices.
    let store_idx = with_idx || bands.dispatches(gpu) > 1;
    let idx = store_idx
        .then(|| Tensor::uninit(gpu, g.y_shape()))
        .transpose()?;
    let u = PoolUniforms {
        no_idx: u32::from(!store_idx),
        ..uniforms(g)
    };
    let bufs = [Some(x), None, Some(&y), idx.as_ref()];
    run_banded(
        gpu,
        entry_point!(SHADER, "max_forward"),
        &u,
        bufs,
        y.numel(),
        bands,
    )?;
    Ok((y, idx.filter(|_| with_idx)))
}

pub(crate) fn max_backward(dy: &Tensor, idx: &Tensor, g: &Pool2dGeometry) -> Result<Tensor> {
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, g.x_shape())?;
    let bufs = [Some(dy), Some(idx), Some(&dx), None];
    // Windows that cannot overlap (2×2 stride 2 and the like) scatter from the outputs.
    let disjoint = g.dilation.h == 1
        && g.dilation.w == 1
        && g.kernel.h <= g.stride.h
        && g.kernel.w <= g.stride.w;
    if disjoint {
        // The largest cell: `stride` rows (columns), or the last one, which runs to the edge.
        let cell = |size: usize, outputs: usize, stride: usize, pad: usize| {
            let last_start = ((outputs - 1) * stride).saturating_sub(pad);
            stride.max(size.saturating_sub(last_start))
        };
        let bands = Bands {
            rows: cell(g.h_in, g.h_out, g.stride.h, g.pad_top),
            cols: cell(g.w_in, g.w_out, g.stride.w, g.pad_left),
        };
        run_banded(
            gpu,
            entry_point!(SHADER, "max_backward_cells"),
            &uniforms(g),
            bufs,
            dy.numel(),
            bands,
        )?;
    } else {
        let bands = window_bands(g);
        run_banded(
            gpu,
            entry_point!(SHADER, "max_backward"),
            &uniforms(g),
            bufs,
            dx.numel(),
            bands,
        )?;
    }
    Ok(dx)
}

/// Bands of the backward passes that gather from the windows containing an input element.
fn window_bands(g: &Pool2dGeometry) -> Bands {
    Bands {
        rows: windows_per_input(g.kernel.h, g.dilation.h, g.stride.h, g.h_out),
        cols: windows_per_input(g.kernel.w, g.dilation.w, g.stride.w, g.w_out),
    }
}

pub(crate) fn avg_forward(x: &Tensor, g: &Pool2dGeometry) -> Result<Tensor> {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, g.y_shape())?;
    let bands = Bands {
        rows: g.kernel.h,
        cols: g.kernel.w,
    };
    let bufs = [Some(x), None, Some(&y), None];
    run_banded(
        gpu,
        entry_point!(SHADER, "avg_forward"),
        &uniforms(g),
        bufs,
        y.numel(),
        bands,
    )?;
    Ok(y)
}

pub(crate) fn avg_backward(dy: &Tensor, g: &Pool2dGeometry) -> Result<Tensor> {
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, g.x_shape())?;
    let bufs = [Some(dy), None, Some(&dx), None];
    run_banded(
        gpu,
        entry_point!(SHADER, "avg_backward"),
        &uniforms(g),
        bufs,
        dx.numel(),
        window_bands(g),
    )?;
    Ok(dx)
}

pub(crate) fn adaptive_forward(x: &Tensor, g: &AdaptiveGeometry) -> Result<Tensor> {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, g.y_shape())?;
    // A window spans at most ⌈size / out⌉ + 1 positions.
    let bands = Bands {
        rows: (g.h_in.div_ceil(g.h_out) + 1).min(g.h_in),
        cols: (g.w_in.div_ceil(g.w_out) + 1).min(g.w_in),
    };
    let bufs = [Some(x), None, Some(&y), None];
    run_banded(
        gpu,
        entry_point!(SHADER, "adaptive_forward"),
        &adaptive_uniforms(g),
        bufs,
        y.numel(),
        bands,
    )?;
    Ok(y)
}

pub(crate) fn adaptive_backward(dy: &Tensor, g: &AdaptiveGeometry) -> Result<Tensor> {
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, g.x_shape())?;
    // The kernel searches at most ⌈out / size⌉ + 3 candidate windows per axis.
    let bands = Bands {
        rows: (g.h_out.div_ceil(g.h_in) + 3).min(g.h_out),
        cols: (g.w_out.div_ceil(g.w_in) + 3).min(g.w_out),
    };
    let bufs = [Some(dy), None, Some(&dx), None];
    let u = adaptive_uniforms(g);
    run_banded(
        gpu,
        entry_point!(SHADER, "adaptive_backward"),
        &u,
        bufs,
        dx.numel(),
        bands,
    )?;
    Ok(dx)
}

fn channel_uniforms(x: &Shape, k: usize) -> PoolUniforms {
    let d = x.dims();
    PoolUniforms {
        n: u(d[0]),
        c: u(d[1]),
        h_in: u(d[2]),
        w_in: u(d[3]),
        k: u(k),
        ..PoolUniforms::default()
    }
}

pub(crate) fn channel_max_forward(x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    let gpu = x.gpu();
    let d = x.dims();
    let shape = Shape::new([d[0], d[1] / k, d[2], d[3]]);
    let y = Tensor::uninit(gpu, shape.clone())?;
    let idx = Tensor::uninit(gpu, shape)?;
    let u = channel_uniforms(x.shape(), k);
    let bufs = [Some(x), None, Some(&y), Some(&idx)];
    // Its units are the k channels (one segment of one column each).
    let bands = Bands { rows: k, cols: 1 };
    run_banded(
        gpu,
        entry_point!(SHADER, "channel_max_forward"),
        &u,
        bufs,
        y.numel(),
        bands,
    )?;
    Ok((y, idx))
}

pub(crate) fn channel_max_backward(
    dy: &Tensor,
    idx: &Tensor,
    x_shape: &Shape,
    k: usize,
) -> Result<Tensor> {
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, x_shape.clone())?;
    let u = channel_uniforms(x_shape, k);
    run(
        gpu,
        entry_point!(SHADER, "channel_max_backward"),
        &u,
        [Some(dy), Some(idx), Some(&dx), None],
        dx.numel(),
    )?;
    Ok(dx)
}

impl PoolBackend for GpuBackend {
    fn max_pool(
        &self,
        x: &Tensor,
        p: &Pool2dParams,
        with_idx: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        match with_idx {
            true => super::max_pool2d(x, p).map(|(y, i)| (y, Some(i))),
            false => super::max_pool2d_inference(x, p).map(|y| (y, None)),
        }
    }
    fn max_pool_backward(
        &self,
        dy: &Tensor,
        idx: &Tensor,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<Tensor> {
        super::max_pool2d_backward(dy, idx, x, p)
    }
    fn avg_pool(&self, x: &Tensor, p: &Pool2dParams) -> Result<Tensor> {
        super::avg_pool2d(x, p)
    }
    fn avg_pool_backward(&self, dy: &Tensor, x: &Shape, p: &Pool2dParams) -> Result<Tensor> {
        super::avg_pool2d_backward(dy, x, p)
    }
    fn global_avg_pool(&self, x: &Tensor) -> Result<Tensor> {
        super::global_avg_pool2d(x)
    }
    fn global_avg_pool_backward(&self, dy: &Tensor, x: &Shape) -> Result<Tensor> {
        super::adaptive_avg_pool2d_backward(dy, x)
    }
    fn channel_max_pool(&self, x: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
        super::channel_max_pool(x, k)
    }
    fn channel_max_pool_backward(
        &self,
        dy: &Tensor,
        idx: &Tensor,
        x: &Shape,
        k: usize,
    ) -> Result<Tensor> {
        super::channel_max_pool_backward(dy, idx, x, k)
    }
}
